use super::*;

fn package() -> DriverPackage {
    DriverPackage {
        id: Uuid::from_u128(0x6f1c0c1e_0000_4000_8000_000000000013),
        platform: Platform::WindowsX64,
        version: DriverVersion::new(8, 0, 0, 13),
        size: 1234,
        sha256: "ab".repeat(32),
        origin: PackageOrigin::Sample,
        file_name: "8.0.0.13.package".to_owned(),
        file_mtime: String::new(),
        created_at: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
    }
}

#[test]
fn a_package_view_has_its_fields_in_order_and_reads_back() {
    let view = PackageView::new(BASE, &package(), true);
    let json = serde_json::to_string(&view).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"id":"6f1c0c1e-0000-4000-8000-000000000013","platform":"windows-x64","version":"8.0.0.13","size":1234,"sha256":"{}","origin":"sample","createdAt":"2026-01-01T00:00:00Z","isLatest":true,"links":[{{"href":"/MigrateApi/2019.8/driverPackages/6f1c0c1e-0000-4000-8000-000000000013","rel":"self","methods":["GET"]}},{{"href":"/MigrateApi/2019.8/driverPackages/6f1c0c1e-0000-4000-8000-000000000013/content","rel":"content","methods":["GET","HEAD"]}}]}}"#,
            "ab".repeat(32)
        )
    );
    let read: PackageView = serde_json::from_str(&json).unwrap();
    assert_eq!(read, view);
    assert_eq!(
        read.content_href(),
        Some(path::package_content(BASE, view.id).as_str())
    );
}

#[test]
fn an_error_body_reads_back() {
    let body = ErrorBody::new("NotFound", "no such thing");
    let json = serde_json::to_string(&body).unwrap();
    assert_eq!(
        json,
        r#"{"error":{"code":"NotFound","message":"no such thing"}}"#
    );
    assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), body);
}

#[test]
fn a_driver_state_report_is_text_the_server_parses() {
    let body = DriverStateBody::new(
        Some(DriverVersion::new(8, 0, 0, 12)),
        None,
        ControllerService::Running,
    );
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        r#"{"installedVersion":"8.0.0.12","runningVersion":null,"controllerService":"running"}"#
    );
    // Left out is none, as null is; a member it does not know is the server's to ignore or
    // refuse (`--strict-bodies`), not the type's.
    let empty: DriverStateBody = serde_json::from_str("{}").unwrap();
    assert_eq!(empty.installed_version, None);
    let more: DriverStateBody = serde_json::from_str(r#"{"installed":"8.0.0.12"}"#).unwrap();
    assert_eq!(more, empty);
}

#[test]
fn a_registration_answer_reads_as_its_id_and_token() {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct SourceView {
        id: Uuid,
        host_name: &'static str,
    }
    let answer = Registered {
        source: SourceView {
            id: Uuid::from_u128(0x6f1c0c1e_0000_4000_8000_000000000001),
            host_name: "web01",
        },
        agent_token: "psa_x".to_owned(),
    };
    let json = serde_json::to_string(&answer).unwrap();
    assert_eq!(
        json,
        r#"{"id":"6f1c0c1e-0000-4000-8000-000000000001","hostName":"web01","agentToken":"psa_x"}"#
    );
    let read: Registered<SourceId> = serde_json::from_str(&json).unwrap();
    assert_eq!(
        read.source.id,
        Uuid::from_u128(0x6f1c0c1e_0000_4000_8000_000000000001)
    );
    assert_eq!(read.agent_token, "psa_x");
}

#[test]
fn paths_are_under_the_base() {
    let id = Uuid::nil();
    assert_eq!(path::sources(BASE), "/MigrateApi/2019.8/sources");
    assert_eq!(
        path::register(BASE_ALIAS),
        "/MigrateApi/2019.5/sources?operation=Register"
    );
    assert_eq!(
        path::driver_state(BASE, id),
        format!("/MigrateApi/2019.8/sources/{id}/driverState")
    );
    assert_eq!(
        path::latest_package(BASE, Platform::LinuxX64),
        "/MigrateApi/2019.8/driverPackages/latest?platform=linux-x64"
    );
}
