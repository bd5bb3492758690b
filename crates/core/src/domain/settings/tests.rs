use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::domain::driver::DriverState;
use crate::domain::model::AddedBy;
use crate::domain::platform::{ControllerService, OsFamily, Platform};
use crate::domain::replication::{ContractFacts, ContractState};

fn source() -> Source {
    Source {
        id: Uuid::nil(),
        machine_id: None,
        host_name: "SB-W2012-R2-STD".into(),
        os_family: OsFamily::Windows,
        platform: Platform::default_for(OsFamily::Windows),
        ip_address: "10.0.0.5".into(),
        added_by: AddedBy::Agent,
        controller_service: ControllerService::Running,
        driver: DriverState::default(),
        server_sync_required: false,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
        last_report_at: None,
    }
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn facts(state: ContractState, full: bool) -> ContractFacts {
    ContractFacts {
        state,
        running: None,
        has_full_replication: full,
    }
}

fn patch<T: serde::de::DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body).unwrap()
}

#[test]
fn defaults_come_from_the_workload() {
    let s = defaults(&source(), StorageLayout::SameAsSource);
    assert_eq!(s.storage.storage_layout, StorageLayout::SameAsSource);
    assert_eq!(s.networking.host_name, "SB-W2012-R2-STD");
    assert_eq!(
        s.networking.nics,
        vec![Nic {
            source_ip_address: "10.0.0.5".into(),
            dhcp: true,
            ip_address: None,
            subnet_mask: None,
            gateway: None,
            dns_servers: vec![],
        }]
    );
    assert_eq!(s.schedule.state, ScheduleState::Active);
    assert_eq!(s.schedule.full_replication_start, None);
    assert_eq!(s.schedule.incremental_recurrence, Recurrence::None);
    assert_eq!(s.target_settings.vm_name, "SB-W2012-R2-STD");
    assert_eq!(s.target_settings.cpu_count, None);
    assert!(!s.replication_settings.encrypt_data_transfer);
    assert_eq!(s.replication_settings.bandwidth_throttling_mbps, None);
}

#[test]
fn groups_serialize_in_camel_case_with_explicit_nulls() {
    let s = defaults(&source(), StorageLayout::SameAsSource);
    assert_eq!(
        serde_json::to_value(&s.storage).unwrap(),
        json!({"storageLayout": "sameAsSource"})
    );
    assert_eq!(
        serde_json::to_value(&s.schedule).unwrap(),
        json!({"state": "Active", "fullReplicationStart": null, "incrementalRecurrence": "None", "incrementalStart": null})
    );
    assert_eq!(
        serde_json::to_value(&s.replication_settings).unwrap(),
        json!({"encryptDataTransfer": false, "compressionLevel": "None", "bandwidthThrottlingMbps": null})
    );
}

#[test]
fn a_static_address_replaces_dhcp_and_dhcp_clears_it() {
    let stored = defaults(&source(), StorageLayout::SameAsSource).networking;
    let p: NetworkingPatch = patch(json!({"hostName": " WIN-TGT01 ", "nics": [{
        "dhcp": "false", "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0",
        "gateway": "10.0.1.1", "dnsServers": ["10.0.1.2", "2001:db8::1"],
        "sourceIpAddress": "ignored"
    }]}));
    let fixed = p.apply(&stored).unwrap();
    assert_eq!(fixed.host_name, "WIN-TGT01");
    let nic = &fixed.nics[0];
    assert_eq!(nic.source_ip_address, "10.0.0.5");
    assert!(!nic.dhcp);
    assert_eq!(nic.ip_address.as_deref(), Some("10.0.1.5"));
    assert_eq!(nic.gateway.as_deref(), Some("10.0.1.1"));
    assert_eq!(nic.dns_servers, ["10.0.1.2", "2001:db8::1"]);

    // Members left out keep their values; null clears a nullable one.
    let p: NetworkingPatch = patch(json!({"nics": [{"gateway": null}]}));
    let no_gateway = p.apply(&fixed).unwrap();
    assert_eq!(no_gateway.host_name, "WIN-TGT01");
    assert_eq!(no_gateway.nics[0].ip_address.as_deref(), Some("10.0.1.5"));
    assert_eq!(no_gateway.nics[0].gateway, None);

    let p: NetworkingPatch = patch(json!({"nics": [{"dhcp": true}]}));
    let dhcp = &p.apply(&fixed).unwrap().nics[0];
    assert!(dhcp.dhcp);
    assert_eq!(
        (&dhcp.ip_address, &dhcp.subnet_mask, &dhcp.gateway),
        (&None, &None, &None)
    );
    assert_eq!(dhcp.dns_servers, fixed.nics[0].dns_servers, "kept");

    // What a GET answered, sent back as it is, changes nothing.
    let read = serde_json::to_value(&fixed).unwrap();
    let mut with_links = read.as_object().unwrap().clone();
    with_links.insert("links".into(), json!([{"href": "x", "rel": "self"}]));
    let p: NetworkingPatch = patch(Value::Object(with_links));
    assert_eq!(p.apply(&fixed).unwrap(), fixed);
}

/// Each bad change is refused, naming the member at fault.
#[test]
fn bad_changes_name_the_member() {
    let s = defaults(&source(), StorageLayout::SameAsSource);
    let static_nic = json!({"dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0"});
    let networking = [
        (json!({"hostName": ""}), "hostName"),
        (json!({"hostName": "a\u{7}b"}), "hostName"),
        (json!({"hostName": "x".repeat(256)}), "hostName"),
        (json!({"nics": []}), "nics"),
        (json!({"nics": [{}, {}]}), "nics"),
        (json!({"nics": [{"dhcp": false}]}), "nics[0].ipAddress"),
        (
            json!({"nics": [{"dhcp": false, "ipAddress": "10.0.1.5"}]}),
            "nics[0].subnetMask",
        ),
        (
            json!({"nics": [{"dhcp": false, "ipAddress": "10.0.1", "subnetMask": "255.255.255.0"}]}),
            "nics[0].ipAddress",
        ),
        (
            json!({"nics": [{"dhcp": false, "ipAddress": "2001:db8::5", "subnetMask": "255.255.255.0"}]}),
            "nics[0].ipAddress",
        ),
        (
            json!({"nics": [{"dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "255.0.255.0"}]}),
            "nics[0].subnetMask",
        ),
        (
            json!({"nics": [{"dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "0.0.0.0"}]}),
            "nics[0].subnetMask",
        ),
        (
            json!({"nics": [{"dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0", "gateway": "10.0.2.1"}]}),
            "nics[0].gateway",
        ),
        (
            json!({"nics": [{"dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0", "gateway": "10.0.1.5"}]}),
            "nics[0].gateway",
        ),
        (
            json!({"nics": [{"ipAddress": "10.0.1.5"}]}),
            "nics[0].ipAddress",
        ),
        (
            json!({"nics": [{"dnsServers": ["10.0.0.1", "dns.example"]}]}),
            "nics[0].dnsServers[1]",
        ),
        (
            json!({"nics": [{"dnsServers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5"]}]}),
            "nics[0].dnsServers",
        ),
    ];
    for (body, member) in networking {
        let err = patch::<NetworkingPatch>(body.clone())
            .apply(&s.networking)
            .unwrap_err();
        assert_eq!(err.member, member, "{body}: {err}");
    }
    // A static address kept, then an interface switched to DHCP with an address: refused.
    let fixed = patch::<NetworkingPatch>(json!({ "nics": [static_nic] }))
        .apply(&s.networking)
        .unwrap();
    let err =
        patch::<NetworkingPatch>(json!({"nics": [{"dhcp": true, "subnetMask": "255.0.0.0"}]}))
            .apply(&fixed)
            .unwrap_err();
    assert_eq!(err.member, "nics[0].subnetMask");

    let target = [
        (json!({"vmName": "  "}), "vmName"),
        (json!({"cpuCount": 0}), "cpuCount"),
        (json!({"cpuCount": 129}), "cpuCount"),
        (json!({"memoryMb": 255}), "memoryMb"),
        (json!({"memoryMb": 4_194_305}), "memoryMb"),
    ];
    for (body, member) in target {
        let err = patch::<TargetSettingsPatch>(body.clone())
            .apply(&s.target_settings)
            .unwrap_err();
        assert_eq!(err.member, member, "{body}: {err}");
    }
    for body in [
        json!({"bandwidthThrottlingMbps": 0}),
        json!({"bandwidthThrottlingMbps": 100_001}),
    ] {
        let err = patch::<ReplicationSettingsPatch>(body.clone())
            .apply(&s.replication_settings)
            .unwrap_err();
        assert_eq!(err.member, "bandwidthThrottlingMbps", "{body}: {err}");
    }
    let err = patch::<SchedulePatch>(json!({"incrementalRecurrence": "Daily"}))
        .apply(&s.schedule)
        .unwrap_err();
    assert_eq!(err.member, "incrementalStart");
    assert!(
        err.to_string().starts_with("incrementalStart: needed"),
        "{err}"
    );
}

/// Types and enumerations are checked when the body is read; the path of the error names the
/// member (the server reads bodies through `serde_path_to_error`).
#[test]
fn wrong_types_and_values_are_refused_when_read() {
    for (body, says) in [
        (json!({"storageLayout": "thin"}), "sameAsSource"),
        (json!({"state": "Stopped"}), "Active"),
        (json!({"fullReplicationStart": "tomorrow"}), "RFC 3339"),
        (json!({"incrementalStart": 5}), "string"),
        (json!({"incrementalRecurrence": "Monthly"}), "Weekly"),
    ] {
        let storage = serde_json::from_value::<StoragePatch>(body.clone()).err();
        let schedule = serde_json::from_value::<SchedulePatch>(body.clone()).err();
        let err = storage.or(schedule).expect("refused");
        assert!(err.to_string().contains(says), "{body}: {err}");
    }
    let err =
        serde_json::from_value::<TargetSettingsPatch>(json!({"cpuCount": "four"})).unwrap_err();
    assert!(err.to_string().contains("u32"), "{err}");
    let err =
        serde_json::from_value::<ReplicationSettingsPatch>(json!({"encryptDataTransfer": "yes"}))
            .unwrap_err();
    assert!(err.to_string().contains("true or false"), "{err}");
}

#[test]
fn booleans_also_as_strings_and_null_as_unchanged() {
    let stored = defaults(&source(), StorageLayout::SameAsSource).replication_settings;
    for (body, expected) in [
        (json!({"encryptDataTransfer": "TRUE"}), true),
        (json!({"encryptDataTransfer": true}), true),
        (json!({"encryptDataTransfer": "false"}), false),
        (json!({"encryptDataTransfer": null}), false),
        (json!({}), false),
    ] {
        let p: ReplicationSettingsPatch = patch(body.clone());
        assert_eq!(
            p.apply(&stored).unwrap().encrypt_data_transfer,
            expected,
            "{body}"
        );
    }
    let throttled = patch::<ReplicationSettingsPatch>(json!({"bandwidthThrottlingMbps": 100}))
        .apply(&stored)
        .unwrap();
    assert_eq!(throttled.bandwidth_throttling_mbps, Some(100));
    let kept = patch::<ReplicationSettingsPatch>(json!({"compressionLevel": "Maximum"}))
        .apply(&throttled)
        .unwrap();
    assert_eq!(kept.bandwidth_throttling_mbps, Some(100));
    assert_eq!(kept.compression_level, CompressionLevel::Maximum);
    let off = patch::<ReplicationSettingsPatch>(json!({"bandwidthThrottlingMbps": null}))
        .apply(&kept)
        .unwrap();
    assert_eq!(off.bandwidth_throttling_mbps, None);
}

#[test]
fn names_and_tags() {
    assert_eq!(check_name("displayName", "  web01 ").unwrap(), "web01");
    assert_eq!(
        check_name("displayName", "").unwrap_err().member,
        "displayName"
    );
    assert_eq!(
        check_tags(&[" a ".into(), "b".into()]).unwrap(),
        vec!["a".to_owned(), "b".to_owned()]
    );
    assert_eq!(
        check_tags(&["a".into(), " ".into()]).unwrap_err().member,
        "tags[1]"
    );
    assert_eq!(
        check_tags(&vec!["t".to_owned(); 21]).unwrap_err().member,
        "tags"
    );
    assert_eq!(check_tags(&["x".repeat(65)]).unwrap_err().member, "tags[0]");
}

#[test]
fn the_first_occurrence_not_before_now() {
    let start = at(2026, 3, 1, 0, 0);
    let day = TimeDelta::days(1);
    let cases = [
        (at(2026, 2, 1, 0, 0), start),
        (start, start),
        (at(2026, 3, 1, 0, 1), at(2026, 3, 2, 0, 0)),
        (at(2026, 3, 5, 23, 59), at(2026, 3, 6, 0, 0)),
        (at(2026, 3, 6, 0, 0), at(2026, 3, 6, 0, 0)),
    ];
    for (now, expected) in cases {
        assert_eq!(first_at_or_after(start, day, now), Some(expected), "{now}");
    }
    let almost = at(2026, 3, 2, 0, 0) - TimeDelta::milliseconds(1);
    assert_eq!(
        first_at_or_after(start, day, almost),
        Some(at(2026, 3, 2, 0, 0))
    );
    assert_eq!(
        first_at_or_after(start, day, DateTime::<Utc>::MAX_UTC),
        None,
        "past the end of time"
    );
}

#[test]
fn the_next_replication_follows_the_schedule_and_the_contract() {
    let now = at(2026, 3, 10, 12, 0);
    let scheduled = Schedule {
        state: ScheduleState::Active,
        full_replication_start: Some(at(2026, 3, 1, 0, 0)),
        incremental_recurrence: Recurrence::Weekly,
        incremental_start: Some(at(2026, 3, 4, 1, 0)),
    };
    let paused = Schedule {
        state: ScheduleState::Paused,
        ..scheduled.clone()
    };
    let none = defaults(&source(), StorageLayout::SameAsSource).schedule;
    let cases = [
        // The first full replication, retried daily at its time until it has run.
        (
            &scheduled,
            facts(ContractState::Prepared, false),
            Some(at(2026, 3, 11, 0, 0)),
        ),
        // Then the incremental recurrence.
        (
            &scheduled,
            facts(ContractState::Prepared, true),
            Some(at(2026, 3, 11, 1, 0)),
        ),
        (
            &scheduled,
            facts(ContractState::UnderTest, true),
            Some(at(2026, 3, 11, 1, 0)),
        ),
        // Not prepared yet, cut over, paused, or nothing scheduled: none.
        (&scheduled, facts(ContractState::Configured, false), None),
        (&scheduled, facts(ContractState::CutOver, true), None),
        (&paused, facts(ContractState::Prepared, true), None),
        (&none, facts(ContractState::Prepared, false), None),
        (&none, facts(ContractState::Prepared, true), None),
    ];
    for (schedule, f, expected) in cases {
        assert_eq!(
            schedule.next_replication(f, now),
            expected,
            "{schedule:?} {f:?}"
        );
    }
}

#[test]
fn the_schedule_column() {
    let active = defaults(&source(), StorageLayout::SameAsSource).schedule;
    let paused = Schedule {
        state: ScheduleState::Paused,
        ..active.clone()
    };
    let cases = [
        (&active, ContractState::Configured, "None"),
        (&active, ContractState::Prepared, "Active"),
        (&active, ContractState::UnderTest, "Active"),
        (&active, ContractState::CutOver, "None"),
        (&paused, ContractState::Configured, "None"),
        (&paused, ContractState::Prepared, "Paused"),
        (&paused, ContractState::CutOver, "None"),
    ];
    for (schedule, state, expected) in cases {
        assert_eq!(schedule.column(facts(state, false)), expected, "{state:?}");
    }
}

proptest! {
    /// The answer is an occurrence of the recurrence, not before `now`, and less than a period
    /// after it.
    #[test]
    fn an_occurrence_within_a_period_of_now(
        start in 0i64..4_000_000_000,
        now in 0i64..4_000_000_000,
        period in prop_oneof![Just(86_400i64), Just(604_800i64), 1i64..1_000_000],
        nanos in 0u32..1_000_000_000,
    ) {
        let start = DateTime::from_timestamp(start, 0).unwrap();
        let now = DateTime::from_timestamp(now, nanos).unwrap();
        let period = TimeDelta::seconds(period);
        let next = first_at_or_after(start, period, now).unwrap();
        prop_assert!(next >= now);
        prop_assert!(next == start || next - now < period);
        prop_assert_eq!((next - start).num_seconds() % period.num_seconds(), 0);
    }
}
