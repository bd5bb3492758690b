//! Operating-system families, driver platforms and the controller service's states.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    Windows,
    Linux,
}

impl OsFamily {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Windows => "windows",
            Self::Linux => "linux",
        }
    }
}

impl FromStr for OsFamily {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "windows" => Ok(Self::Windows),
            "linux" => Ok(Self::Linux),
            other => Err(format!(
                "unknown OS family {other:?}; expected \"windows\" or \"linux\""
            )),
        }
    }
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform that driver packages are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Platform {
    #[serde(rename = "windows-x64")]
    WindowsX64,
    #[serde(rename = "windows-x86")]
    WindowsX86,
    #[serde(rename = "linux-x64")]
    LinuxX64,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Self::WindowsX64, Self::WindowsX86, Self::LinuxX64];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WindowsX64 => "windows-x64",
            Self::WindowsX86 => "windows-x86",
            Self::LinuxX64 => "linux-x64",
        }
    }

    pub const fn os_family(self) -> OsFamily {
        match self {
            Self::WindowsX64 | Self::WindowsX86 => OsFamily::Windows,
            Self::LinuxX64 => OsFamily::Linux,
        }
    }

    /// The platform an OS family gets when a client names none.
    pub const fn default_for(os: OsFamily) -> Self {
        match os {
            OsFamily::Windows => Self::WindowsX64,
            OsFamily::Linux => Self::LinuxX64,
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Self::WindowsX64 => "Windows (x64)",
            Self::WindowsX86 => "Windows (x86)",
            Self::LinuxX64 => "Linux (x64)",
        }
    }
}

impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!("unknown platform {s:?}; expected windows-x64, windows-x86 or linux-x64")
            })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The PlateSpin Controller service on a source machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ControllerService {
    #[default]
    NotInstalled,
    /// Installed, not running.
    Installed,
    Running,
}

impl ControllerService {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotInstalled => "notInstalled",
            Self::Installed => "installed",
            Self::Running => "running",
        }
    }

    /// In words, for people (events, pages): "not installed", "installed, not running",
    /// "running".
    pub const fn words(self) -> &'static str {
        match self {
            Self::NotInstalled => "not installed",
            Self::Installed => "installed, not running",
            Self::Running => "running",
        }
    }
}

impl FromStr for ControllerService {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "notInstalled" => Ok(Self::NotInstalled),
            "installed" => Ok(Self::Installed),
            "running" => Ok(Self::Running),
            other => Err(format!(
                "unknown controller service state {other:?}; expected notInstalled, installed or running"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_round_trip_and_belong_to_their_os() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
            assert!(p.as_str().starts_with(p.os_family().as_str()));
        }
        assert!("windows-arm64".parse::<Platform>().is_err());
        assert!("Windows-x64".parse::<Platform>().is_err());
    }

    #[test]
    fn os_and_service_parse_strictly() {
        assert_eq!("linux".parse::<OsFamily>(), Ok(OsFamily::Linux));
        assert!("Linux".parse::<OsFamily>().is_err());
        for s in [
            ControllerService::NotInstalled,
            ControllerService::Installed,
            ControllerService::Running,
        ] {
            assert_eq!(s.as_str().parse::<ControllerService>(), Ok(s));
        }
        assert!("stopped".parse::<ControllerService>().is_err());
    }
}
