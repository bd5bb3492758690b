//! The bodies of `PUT transformations/{id}/<group>`: partial updates. A member left out keeps its
//! stored value; a member given replaces it (null clears a nullable member); read-only members
//! (`links`, `nextReplication`, a NIC's `sourceIpAddress`) may be sent back as read and are
//! ignored, so that a group read with GET can be changed and PUT back as it is.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{
    CompressionLevel, Invalid, Networking, Nic, Recurrence, ReplicationSettings, Schedule,
    ScheduleState, Storage, StorageLayout, TargetSettings, check_name, flag, in_range, invalid,
    ipv4, netmask, nullable, nullable_time,
};

/// A change to the Storage group.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoragePatch {
    pub storage_layout: Option<StorageLayout>,
    /// Read-only: ignored.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub links: Option<Value>,
}

impl StoragePatch {
    pub fn apply(&self, to: &Storage) -> Result<Storage, Invalid> {
        Ok(Storage {
            storage_layout: self.storage_layout.unwrap_or(to.storage_layout),
        })
    }
}

/// A change to the Networking group. `nics`, when given, has one entry per source interface,
/// each a change to that interface (its members left out keep their values).
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NetworkingPatch {
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::domain::text::schema::name_255_or_null)
    )]
    pub host_name: Option<String>,
    pub nics: Option<Vec<NicPatch>>,
    /// Read-only: ignored.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub links: Option<Value>,
}

/// A change to a target network interface. Setting `dhcp` to true clears the static address.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NicPatch {
    /// Read-only: ignored.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub source_ip_address: Option<Value>,
    /// A boolean, or the string "true" or "false".
    #[serde(default, deserialize_with = "flag")]
    pub dhcp: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub ip_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub subnet_mask: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub gateway: Option<Option<String>>,
    pub dns_servers: Option<Vec<String>>,
}

impl NetworkingPatch {
    pub fn apply(&self, to: &Networking) -> Result<Networking, Invalid> {
        let host_name = match &self.host_name {
            Some(h) => check_name("hostName", h)?,
            None => to.host_name.clone(),
        };
        let nics = match &self.nics {
            None => to.nics.clone(),
            Some(given) if given.len() != to.nics.len() => {
                return Err(invalid(
                    "nics",
                    format!(
                        "the source has {} network interface(s); give one entry for each, not {}",
                        to.nics.len(),
                        given.len()
                    ),
                ));
            }
            Some(given) => given
                .iter()
                .zip(&to.nics)
                .enumerate()
                .map(|(i, (p, nic))| p.apply(&format!("nics[{i}]"), nic))
                .collect::<Result<_, _>>()?,
        };
        Ok(Networking { host_name, nics })
    }
}

impl NicPatch {
    fn apply(&self, at: &str, to: &Nic) -> Result<Nic, Invalid> {
        let member = |name: &str| format!("{at}.{name}");
        let dhcp = self.dhcp.unwrap_or(to.dhcp);
        let dns_servers = match &self.dns_servers {
            None => to.dns_servers.clone(),
            Some(list) if list.len() > 4 => {
                return Err(invalid(member("dnsServers"), "at most 4 DNS servers"));
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.trim()
                        .parse::<core::net::IpAddr>()
                        .map(|a| a.to_string())
                        .map_err(|_| {
                            invalid(
                                format!("{at}.dnsServers[{i}]"),
                                format!("{s:?} is not an IP address"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let statics = [
            ("ipAddress", &self.ip_address, &to.ip_address),
            ("subnetMask", &self.subnet_mask, &to.subnet_mask),
            ("gateway", &self.gateway, &to.gateway),
        ];
        if dhcp {
            if let Some((name, _, _)) = statics
                .iter()
                .find(|(_, given, _)| matches!(given, Some(Some(_))))
            {
                return Err(invalid(
                    member(name),
                    "a static address needs dhcp false; with dhcp true the interface takes its address from DHCP",
                ));
            }
            return Ok(Nic {
                source_ip_address: to.source_ip_address.clone(),
                dhcp,
                ip_address: None,
                subnet_mask: None,
                gateway: None,
                dns_servers,
            });
        }
        let [ip, mask, gateway] =
            statics.map(|(_, given, stored)| given.clone().unwrap_or_else(|| stored.clone()));
        let ip = ip.ok_or_else(|| invalid(member("ipAddress"), "needed with dhcp false"))?;
        let mask = mask.ok_or_else(|| invalid(member("subnetMask"), "needed with dhcp false"))?;
        let address = ipv4(&member("ipAddress"), &ip)?;
        let netmask = netmask(&member("subnetMask"), &mask)?;
        let gateway = match gateway {
            None => None,
            Some(g) => {
                let router = ipv4(&member("gateway"), &g)?;
                let net = |a: core::net::Ipv4Addr| u32::from(a) & u32::from(netmask);
                if net(router) != net(address) || router == address {
                    return Err(invalid(
                        member("gateway"),
                        format!(
                            "{router} is not another address of {address}'s subnet ({netmask})"
                        ),
                    ));
                }
                Some(router.to_string())
            }
        };
        Ok(Nic {
            source_ip_address: to.source_ip_address.clone(),
            dhcp,
            ip_address: Some(address.to_string()),
            subnet_mask: Some(netmask.to_string()),
            gateway,
            dns_servers,
        })
    }
}

/// A change to the Schedule group.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SchedulePatch {
    pub state: Option<ScheduleState>,
    /// An RFC 3339 date and time, or null for None.
    #[serde(default, deserialize_with = "nullable_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub full_replication_start: Option<Option<DateTime<Utc>>>,
    pub incremental_recurrence: Option<Recurrence>,
    /// An RFC 3339 date and time, or null.
    #[serde(default, deserialize_with = "nullable_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub incremental_start: Option<Option<DateTime<Utc>>>,
    /// Read-only: ignored.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_replication: Option<Value>,
    /// Read-only: ignored.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub links: Option<Value>,
}

impl SchedulePatch {
    pub fn apply(&self, to: &Schedule) -> Result<Schedule, Invalid> {
        let schedule = Schedule {
            state: self.state.unwrap_or(to.state),
            full_replication_start: self
                .full_replication_start
                .unwrap_or(to.full_replication_start),
            incremental_recurrence: self
                .incremental_recurrence
                .unwrap_or(to.incremental_recurrence),
            incremental_start: self.incremental_start.unwrap_or(to.incremental_start),
        };
        if schedule.incremental_recurrence != Recurrence::None
            && schedule.incremental_start.is_none()
        {
            return Err(invalid(
                "incrementalStart",
                "needed with an incremental recurrence (Daily or Weekly): when the first incremental replication runs",
            ));
        }
        Ok(schedule)
    }
}

/// A change to the TargetSettings group.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetSettingsPatch {
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::domain::text::schema::name_255_or_null)
    )]
    pub vm_name: Option<String>,
    /// 1 to 128, or null for as the source.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub cpu_count: Option<Option<u32>>,
    /// 256 to 4194304, or null for as the source.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub memory_mb: Option<Option<u32>>,
    /// Read-only: ignored.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub links: Option<Value>,
}

impl TargetSettingsPatch {
    pub fn apply(&self, to: &TargetSettings) -> Result<TargetSettings, Invalid> {
        Ok(TargetSettings {
            vm_name: match &self.vm_name {
                Some(n) => check_name("vmName", n)?,
                None => to.vm_name.clone(),
            },
            cpu_count: in_range("cpuCount", self.cpu_count.unwrap_or(to.cpu_count), 1, 128)?,
            memory_mb: in_range(
                "memoryMb",
                self.memory_mb.unwrap_or(to.memory_mb),
                256,
                4_194_304,
            )?,
        })
    }
}

/// A change to the ReplicationSettings group.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplicationSettingsPatch {
    /// A boolean, or the string "true" or "false".
    #[serde(default, deserialize_with = "flag")]
    pub encrypt_data_transfer: Option<bool>,
    pub compression_level: Option<CompressionLevel>,
    /// 1 to 100000, or null for no throttling.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub bandwidth_throttling_mbps: Option<Option<u32>>,
    /// Read-only: ignored.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub links: Option<Value>,
}

impl ReplicationSettingsPatch {
    pub fn apply(&self, to: &ReplicationSettings) -> Result<ReplicationSettings, Invalid> {
        Ok(ReplicationSettings {
            encrypt_data_transfer: self
                .encrypt_data_transfer
                .unwrap_or(to.encrypt_data_transfer),
            compression_level: self.compression_level.unwrap_or(to.compression_level),
            bandwidth_throttling_mbps: in_range(
                "bandwidthThrottlingMbps",
                self.bandwidth_throttling_mbps
                    .unwrap_or(to.bandwidth_throttling_mbps),
                1,
                100_000,
            )?,
        })
    }
}
