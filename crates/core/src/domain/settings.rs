//! A transformation's setting groups, as the real Migrate API separates them: Storage,
//! Networking, Schedule, TargetSettings and ReplicationSettings (ValidationResults, the sixth, is
//! computed: see [`super::validation`]). Their defaults come from the workload; a change is a
//! partial update (the members given replace the stored ones) checked member by member.
//!
//! The product's documentation names the groups but not their members: these are the emulator's,
//! kept to what it knows of a workload (host name, IP address) and to the settings the product's
//! Web Interface documents (a full replication start that defaults to None, incremental
//! recurrence, bandwidth throttling in Mbps that is off by default).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::model::Source;

/// A member the client got wrong, named as the API names it (`nics[0].ipAddress`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{member}: {message}")]
pub struct Invalid {
    pub member: String,
    pub message: String,
}

fn invalid(member: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        member: member.into(),
        message: message.into(),
    }
}

/// How the target's disks are laid out. The documented create body sends `sameAsSource`, the
/// only layout the emulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum StorageLayout {
    #[default]
    SameAsSource,
}

/// Whether scheduled replications run: the Web Interface's Pause Schedule and Resume Schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ScheduleState {
    #[default]
    Active,
    Paused,
}

/// How often incremental replications repeat after the first full one (`None`: when asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Recurrence {
    #[default]
    None,
    Daily,
    Weekly,
}

impl Recurrence {
    pub fn period(self) -> Option<chrono::TimeDelta> {
        match self {
            Self::None => None,
            Self::Daily => Some(chrono::TimeDelta::days(1)),
            Self::Weekly => Some(chrono::TimeDelta::weeks(1)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CompressionLevel {
    #[default]
    None,
    Fast,
    Optimal,
    Maximum,
}

/// The Storage group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    pub storage_layout: StorageLayout,
}

/// The Networking group: the target's host name and one network interface per source interface
/// (the emulator knows one: the source's IP address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    /// The target's host name (default: the source's).
    pub host_name: String,
    pub nics: Vec<Nic>,
}

/// A target network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Nic {
    /// The source interface's address (read-only).
    pub source_ip_address: String,
    /// Addressed by DHCP (the default), or statically with the three members below.
    pub dhcp: bool,
    /// An IPv4 address; with `dhcp` false only.
    pub ip_address: Option<String>,
    /// An IPv4 netmask (`255.255.255.0`); with `dhcp` false only.
    pub subnet_mask: Option<String>,
    /// In the address's subnet; with `dhcp` false only, optional.
    pub gateway: Option<String>,
    /// IP addresses, at most 4.
    pub dns_servers: Vec<String>,
}

/// The Schedule group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// `Active` (the default) or `Paused`. Scheduled replications run only once the workload is
    /// prepared, until its cutover.
    pub state: ScheduleState,
    /// When the first full replication runs; null (the default) for None: when asked. Retried
    /// daily at that time until it has run.
    pub full_replication_start: Option<DateTime<Utc>>,
    pub incremental_recurrence: Recurrence,
    /// The first incremental replication of the recurrence; needed with a recurrence.
    pub incremental_start: Option<DateTime<Utc>>,
}

/// The TargetSettings group: the target virtual machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetSettings {
    /// The target VM's name (default: the source's host name).
    pub vm_name: String,
    /// 1 to 128; null (the default): as the source.
    pub cpu_count: Option<u32>,
    /// 256 to 4194304 MiB; null (the default): as the source.
    pub memory_mb: Option<u32>,
}

/// The ReplicationSettings group: how data travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplicationSettings {
    pub encrypt_data_transfer: bool,
    pub compression_level: CompressionLevel,
    /// 1 to 100000 Mbps at all times; null (the default): throttling off.
    pub bandwidth_throttling_mbps: Option<u32>,
}

/// All the stored groups of a transformation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub storage: Storage,
    pub networking: Networking,
    pub schedule: Schedule,
    pub target_settings: TargetSettings,
    pub replication_settings: ReplicationSettings,
}

/// A new transformation's settings, from its workload and the create body's layout.
pub fn defaults(source: &Source, storage_layout: StorageLayout) -> Settings {
    Settings {
        storage: Storage { storage_layout },
        networking: Networking {
            host_name: source.host_name.clone(),
            nics: vec![Nic {
                source_ip_address: source.ip_address.clone(),
                dhcp: true,
                ip_address: None,
                subnet_mask: None,
                gateway: None,
                dns_servers: Vec::new(),
            }],
        },
        schedule: Schedule {
            state: ScheduleState::Active,
            full_replication_start: None,
            incremental_recurrence: Recurrence::None,
            incremental_start: None,
        },
        target_settings: TargetSettings {
            vm_name: source.host_name.clone(),
            cpu_count: None,
            memory_mb: None,
        },
        replication_settings: ReplicationSettings {
            encrypt_data_transfer: false,
            compression_level: CompressionLevel::None,
            bandwidth_throttling_mbps: None,
        },
    }
}

/// A name a person gives (a display name, a host or VM name): as a source's host name, 1 to 255
/// characters without control characters, surrounding blanks dropped.
pub fn check_name(member: &str, text: &str) -> Result<String, Invalid> {
    super::text::check_name(text, 255)
        .map(str::to_owned)
        .map_err(|why| invalid(member, why))
}

/// A transformation's tags: at most 20, each 1 to 64 characters without control characters.
pub fn check_tags(tags: &[String]) -> Result<Vec<String>, Invalid> {
    if tags.len() > 20 {
        return Err(invalid("tags", "at most 20 tags"));
    }
    tags.iter()
        .enumerate()
        .map(|(i, tag)| match super::text::check_name(tag, 64) {
            Err(why) => Err(invalid(format!("tags[{i}]"), format!("a tag {why}"))),
            Ok(t) => Ok(t.to_owned()),
        })
        .collect()
}

fn in_range(member: &str, value: Option<u32>, min: u32, max: u32) -> Result<Option<u32>, Invalid> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(invalid(
            member,
            format!("must be from {min} to {max} (or null), not {v}"),
        )),
        other => Ok(other),
    }
}

// Text to addresses only: parsing, no I/O (`core::net` is `std::net`'s address types).
fn ipv4(member: &str, text: &str) -> Result<core::net::Ipv4Addr, Invalid> {
    text.trim()
        .parse()
        .map_err(|_| invalid(member, format!("{text:?} is not an IPv4 address")))
}

fn netmask(member: &str, text: &str) -> Result<core::net::Ipv4Addr, Invalid> {
    let mask = ipv4(member, text)?;
    let bits = u32::from(mask);
    if bits.leading_ones() == 0 || bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(invalid(
            member,
            format!("{text:?} is not a netmask (such as 255.255.255.0)"),
        ));
    }
    Ok(mask)
}

/// A member whose JSON null means something (null: "None" or "as the source"): absent is
/// `None`, null is `Some(None)`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A nullable date and time (null for None), in RFC 3339, with an error that says so.
fn nullable_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(Some(None));
    };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| Some(Some(t.with_timezone(&Utc))))
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is not an RFC 3339 date and time, such as 2030-03-01T00:00:00Z"
            ))
        })
}

/// A boolean as JSON or as the strings `"true"`/`"false"`, as the real API's documented bodies
/// send their booleans; null is absent.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct Flag;
    impl serde::de::Visitor<'_> for Flag {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("true or false (a boolean, or the string \"true\" or \"false\")")
        }
        fn visit_bool<E>(self, b: bool) -> Result<Option<bool>, E> {
            Ok(Some(b))
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Option<bool>, E> {
            match s {
                _ if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
                _ if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
                _ => Err(E::invalid_value(serde::de::Unexpected::Str(s), &self)),
            }
        }
        fn visit_unit<E>(self) -> Result<Option<bool>, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Flag)
}

mod patch;
pub use patch::{
    NetworkingPatch, NicPatch, ReplicationSettingsPatch, SchedulePatch, StoragePatch,
    TargetSettingsPatch,
};

mod schedule;
pub use schedule::first_at_or_after;

#[cfg(test)]
mod tests;
