use super::*;
use OperationStatus::*;
use proptest::prelude::*;
use serde_json::json;

/// The documented request, as the product's walkthrough sends it.
/// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html
fn documented() -> Value {
    json!({
        "username": "username@accountname.onmicrosoft.com",
        "password": "Azure password goes here",
        "type": "AddPlatformAzureCloud",
        "azureCloudName": "AzureCloud",
        "locationName": "centralus",
        "subscriptionId": "Subscription id goes here",
        "applicationId": "Application id goes here"
    })
}

fn request(body: Value) -> AddPlatformRequest {
    serde_json::from_value(body).unwrap()
}

fn with(member: &str, value: Value) -> AddPlatformRequest {
    let mut body = documented();
    body[member] = value;
    request(body)
}

fn without(member: &str) -> AddPlatformRequest {
    let mut body = documented();
    body.as_object_mut().unwrap().remove(member);
    request(body)
}

const MEMBERS: [&str; 7] = [
    "type",
    "username",
    "password",
    "azureCloudName",
    "locationName",
    "subscriptionId",
    "applicationId",
];

#[test]
fn the_documented_request_is_an_azure_platform_in_centralus() {
    let new = request(documented()).check().unwrap();
    assert_eq!(
        new,
        NewPlatform {
            platform_type: PlatformType::AzureCloud,
            username: "username@accountname.onmicrosoft.com".into(),
            azure_cloud_name: AzureCloudName::AzureCloud,
            location_name: "centralus".into(),
            subscription_id: "Subscription id goes here".into(),
            application_id: "Application id goes here".into(),
        }
    );
    assert_eq!(new.display_name(), "Azure centralus");
}

#[test]
fn every_member_is_required_and_named_when_missing_or_null() {
    for member in MEMBERS {
        for request in [without(member), with(member, Value::Null)] {
            let err = request.check().unwrap_err();
            assert_eq!(err.field(), member, "{err}");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("{member}: is required")),
                "{message}"
            );
        }
    }
    // With no type at all, the message names the types there are.
    assert_eq!(
        without("type").check().unwrap_err().to_string(),
        "type: is required; supported: AddPlatformAzureCloud"
    );
}

#[test]
fn every_member_must_be_a_string() {
    let others = [
        (json!(5), "a number"),
        (json!(true), "a boolean"),
        (json!(["x"]), "an array"),
        (json!({"a": 1}), "an object"),
    ];
    for member in MEMBERS {
        for (value, found) in &others {
            let err = with(member, value.clone()).check().unwrap_err();
            assert_eq!(
                err,
                InvalidPlatform::NotAString {
                    field: member,
                    found
                }
            );
            assert_eq!(
                err.to_string(),
                format!("{member}: must be a string, not {found}")
            );
        }
    }
}

#[test]
fn an_unknown_type_names_the_supported_ones() {
    for t in [
        "AddPlatformVMware",
        "",
        "  ",
        "AzureCloud",
        "AddPlatformAzureCloudX",
    ] {
        let err = with("type", json!(t)).check().unwrap_err();
        assert_eq!(err.field(), "type");
        assert_eq!(
            err.to_string(),
            format!("type: unknown platform type {t:?}; supported: AddPlatformAzureCloud")
        );
    }
    // Any case, as the type names in the product's own examples are matched.
    for t in [
        "addplatformazurecloud",
        "ADDPLATFORMAZURECLOUD",
        " AddPlatformAzureCloud ",
    ] {
        assert!(with("type", json!(t)).check().is_ok(), "{t}");
    }
    // Echoed input stays short.
    let long = "x".repeat(500);
    let message = with("type", json!(long)).check().unwrap_err().to_string();
    assert!(message.len() < 200, "{message}");
}

#[test]
fn text_members_are_one_to_their_limit_characters_without_control_characters() {
    let cases = [
        ("username", MAX_TEXT),
        ("subscriptionId", MAX_ID),
        ("applicationId", MAX_ID),
    ];
    for (member, max) in cases {
        for bad in [
            json!(""),
            json!("   "),
            json!("a\u{0}b"),
            json!("line\nbreak"),
            json!("é".repeat(max + 1)),
        ] {
            let err = with(member, bad.clone()).check().unwrap_err();
            assert_eq!(err.field(), member, "{bad}");
            assert!(
                err.to_string().contains(&format!("1 to {max} characters")),
                "{err}"
            );
        }
        // At the limit (in characters, not bytes) and trimmed.
        let at_limit = "é".repeat(max);
        assert!(with(member, json!(at_limit)).check().is_ok());
        let padded = with(member, json!("  value  ")).check().unwrap();
        let stored = match member {
            "username" => padded.username,
            "subscriptionId" => padded.subscription_id,
            _ => padded.application_id,
        };
        assert_eq!(stored, "value");
    }
}

#[test]
fn the_password_is_checked_and_kept_nowhere() {
    for bad in [json!(""), json!("p".repeat(MAX_TEXT + 1))] {
        let err = with("password", bad).check().unwrap_err();
        assert_eq!(err.field(), "password");
        assert!(!err.to_string().contains("ppp"), "never echoed: {err}");
    }
    // Spaces and any character are a password's own business.
    let new = with("password", json!("  s3cret with spaces \t "))
        .check()
        .unwrap();
    assert!(!format!("{new:?}").contains("s3cret"));
    // Nor does the request's Debug show it.
    let shown = format!("{:?}", request(documented()));
    assert!(!shown.contains("Azure password goes here"), "{shown}");
    assert!(shown.contains("***"));
}

#[test]
fn azure_cloud_names_are_azures_four_clouds_in_any_case() {
    for (given, cloud) in [
        ("AzureCloud", AzureCloudName::AzureCloud),
        ("azurecloud", AzureCloudName::AzureCloud),
        ("AzureChinaCloud", AzureCloudName::AzureChinaCloud),
        ("AzureUSGovernment", AzureCloudName::AzureUsGovernment),
        ("azureusgovernment", AzureCloudName::AzureUsGovernment),
        ("AzureGermanCloud", AzureCloudName::AzureGermanCloud),
    ] {
        let new = with("azureCloudName", json!(given)).check().unwrap();
        assert_eq!(new.azure_cloud_name, cloud, "{given}");
    }
    for bad in ["Azure", "AWS", "AzureCloudX", "public"] {
        let err = with("azureCloudName", json!(bad)).check().unwrap_err();
        assert_eq!(err.field(), "azureCloudName");
        assert_eq!(
            err.to_string(),
            format!(
                "azureCloudName: {bad:?} is not an Azure cloud; expected AzureCloud, AzureChinaCloud, AzureUSGovernment, AzureGermanCloud"
            )
        );
    }
    for cloud in AzureCloudName::ALL {
        assert_eq!(cloud.as_str().parse::<AzureCloudName>(), Ok(cloud));
        assert_eq!(
            serde_json::to_value(cloud).unwrap(),
            json!(cloud.as_str()),
            "the wire spells it as Azure does"
        );
        assert_eq!(cloud.to_string(), cloud.as_str());
    }
}

#[test]
fn location_names_are_region_names_answered_short() {
    for (given, short) in [
        ("centralus", "centralus"),
        ("eastus2", "eastus2"),
        ("germanywestcentral", "germanywestcentral"),
        ("usgovvirginia", "usgovvirginia"),
        ("Central US", "centralus"),
        ("West Europe", "westeurope"),
        (" westus ", "westus"),
    ] {
        let new = with("locationName", json!(given)).check().unwrap();
        assert_eq!(new.location_name, short, "{given}");
        assert_eq!(new.display_name(), format!("Azure {short}"));
    }
    for bad in [
        "2east",
        "c",
        "central-us",
        "central_us",
        "centralus!",
        "zentral\u{fc}s",
        "../etc",
        &"a".repeat(65),
    ] {
        let err = with("locationName", json!(bad)).check().unwrap_err();
        assert_eq!(err.field(), "locationName", "{bad}");
        assert!(
            err.to_string().contains("is not an Azure region name"),
            "{err}"
        );
    }
}

#[test]
fn the_first_member_at_fault_is_named_in_the_documented_order() {
    let mut body = documented();
    body["locationName"] = json!(1);
    body["username"] = json!("");
    assert_eq!(
        request(body.clone()).check().unwrap_err().field(),
        "username"
    );
    // An unknown type is reported before anything its members would need.
    body["type"] = json!("AddPlatformVMware");
    assert_eq!(request(body).check().unwrap_err().field(), "type");
}

#[test]
fn enums_read_back_what_they_write() {
    for t in PlatformType::ALL {
        assert_eq!(t.as_str().parse::<PlatformType>(), Ok(t));
        assert_eq!(t.to_string(), "AzureCloud");
        assert_eq!(t.add_type(), "AddPlatformAzureCloud");
    }
    assert!("AddPlatformAzureCloud".parse::<PlatformType>().is_err());
    for s in PlatformState::ALL {
        assert_eq!(s.as_str().parse::<PlatformState>(), Ok(s));
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
    }
    assert!("discovered".parse::<PlatformState>().is_err());
    assert_eq!(
        "PreDiscovery".parse::<PlatformOperationType>(),
        Ok(PlatformOperationType::PreDiscovery)
    );
    assert_eq!(PlatformOperationType::PreDiscovery.as_str(), "PreDiscovery");
    assert!("Discovery".parse::<PlatformOperationType>().is_err());
}

#[test]
fn a_discovery_leaves_its_platform_discovered_or_failed() {
    for (status, state) in [
        (Queued, PlatformState::Discovering),
        (Running, PlatformState::Discovering),
        (Succeeded, PlatformState::Discovered),
        (SucceededWithWarnings, PlatformState::Discovered),
        (Failed, PlatformState::DiscoveryFailed),
        (Aborted, PlatformState::DiscoveryFailed),
    ] {
        assert_eq!(PlatformState::after_discovery(status), state, "{status:?}");
    }
}

/// The sub-operations as the documented poll shows them: a running discovery is
/// `DiscoveringWorkloadTarget` with `Operations.Cloud.DiscoverRegion` inside it.
/// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html
#[test]
fn the_plan_nests_the_cloud_steps_under_the_targets_discovery() {
    let plan = pre_discovery_plan(PlatformType::AzureCloud);
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].name, "DiscoveringWorkloadTarget");
    let names: Vec<&str> = plan[0]
        .sub_operations
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, CLOUD_DISCOVERY_STEPS);
    assert_eq!(names[0], "Operations.Cloud.DiscoverRegion");
    assert_eq!(leaf_count(&plan), 3);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json[0]["subOperations"][0]["subOperations"], json!([]));
    assert_eq!(json[0]["status"], "queued");
    assert_eq!(json[0]["progress"], 0);
}

#[test]
fn progress_rolls_up_to_the_parts_above() {
    let mut tree = pre_discovery_plan(PlatformType::AzureCloud);
    // The documented moment: the region's discovery at 1 %, the target's still at 0 %.
    assert!(set_leaf(&mut tree, 0, Running, 1));
    assert_eq!(tree[0].progress, 0);
    assert_eq!(tree[0].status, Running);
    assert_eq!(tree[0].sub_operations[0].progress, 1);
    assert_eq!(overall_progress(&tree), 0);

    assert!(set_leaf(&mut tree, 0, Succeeded, 100));
    assert_eq!(tree[0].progress, 33);
    assert_eq!(tree[0].status, Running, "one done, two queued");
    assert!(set_leaf(&mut tree, 1, Running, 50));
    assert_eq!(tree[0].progress, 50);
    assert!(set_leaf(&mut tree, 1, Succeeded, 100));
    assert!(set_leaf(&mut tree, 2, Succeeded, 100));
    assert_eq!(tree[0].status, Succeeded);
    assert_eq!(overall_progress(&tree), 100);
    assert!(!set_leaf(&mut tree, 3, Succeeded, 100), "no fourth step");
    // Progress never exceeds 100.
    assert!(set_leaf(&mut tree, 2, Succeeded, 250));
    assert_eq!(tree[0].sub_operations[2].progress, 100);
    assert_eq!(overall_progress(&[]), 0);
}

#[test]
fn statuses_combine_failure_first_then_done_queued_or_running() {
    let cases: &[(&[OperationStatus], OperationStatus)] = &[
        (&[Queued, Queued], Queued),
        (&[Running, Queued], Running),
        (&[Succeeded, Queued], Running),
        (&[Succeeded, Succeeded], Succeeded),
        (&[Succeeded, SucceededWithWarnings], SucceededWithWarnings),
        (&[Succeeded, Failed, Queued], Failed),
        (&[Aborted, Queued], Aborted),
        (&[Failed, Aborted], Failed),
    ];
    for (parts, expected) in cases {
        assert_eq!(combined(parts.iter().copied()), *expected, "{parts:?}");
    }
}

#[test]
fn finishing_ends_what_remains() {
    for status in [Failed, Aborted] {
        let mut tree = pre_discovery_plan(PlatformType::AzureCloud);
        set_leaf(&mut tree, 0, Succeeded, 100);
        set_leaf(&mut tree, 1, Running, 40);
        finish(&mut tree, status);
        let leaves: Vec<OperationStatus> =
            tree[0].sub_operations.iter().map(|s| s.status).collect();
        assert_eq!(leaves, [Succeeded, status, status]);
        assert_eq!(tree[0].status, status);
        assert_eq!(tree[0].sub_operations[1].progress, 40, "progress stays");
    }
    let mut tree = pre_discovery_plan(PlatformType::AzureCloud);
    finish(&mut tree, Succeeded);
    assert_eq!(tree[0].status, Succeeded);
    assert_eq!(overall_progress(&tree), 100);
    assert!(tree[0].sub_operations.iter().all(|s| s.progress == 100));
}

proptest! {
    /// Whatever the order of updates, a part's progress is its parts' average and the
    /// overall progress stays within 0..=100.
    #[test]
    fn a_parts_progress_is_its_parts_average(
        updates in proptest::collection::vec((0usize..4, 0u8..=255, 0usize..6), 0..20)
    ) {
        let statuses = [Queued, Running, Succeeded, SucceededWithWarnings, Failed, Aborted];
        let mut tree = pre_discovery_plan(PlatformType::AzureCloud);
        for (leaf, progress, status) in updates {
            set_leaf(&mut tree, leaf, statuses[status], progress);
            let parts = &tree[0].sub_operations;
            let sum: usize = parts.iter().map(|p| usize::from(p.progress)).sum();
            prop_assert_eq!(usize::from(tree[0].progress), sum / parts.len());
            prop_assert!(overall_progress(&tree) <= 100);
            prop_assert_eq!(tree[0].status, combined(parts.iter().map(|p| p.status)));
        }
    }

    /// Any JSON in any member is answered with an error naming a member, or a platform; never
    /// a panic.
    #[test]
    fn any_member_value_is_checked_without_panicking(
        member in 0usize..7,
        text in ".{0,300}",
        number in any::<i64>(),
        pick in 0usize..3,
    ) {
        let value = match pick {
            0 => json!(text),
            1 => json!(number),
            _ => json!([text]),
        };
        match with(MEMBERS[member], value).check() {
            Ok(new) => prop_assert!(new.location_name.len() <= 64),
            Err(e) => prop_assert!(MEMBERS.contains(&e.field())),
        }
    }
}
