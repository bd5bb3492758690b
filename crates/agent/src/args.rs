//! The command line of the real utility: `migrate-agent <command> [/switch=value ...]`, plus the
//! emulator's `--long` options that say which emulated machine to act on.
//!
//! Written by hand rather than with clap: the real utility's `/psserver=` style switches are not
//! something clap parses, and the grammar is small.

use std::ffi::OsString;
use std::path::PathBuf;

use reqwest::Url;

use migrate_core::domain::platform::{OsFamily, Platform};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Help,
    Logs,
    Register,
    Status,
    DriverInstall,
    DriverUpgrade,
    DriverUninstall,
    Reboot,
}

impl Command {
    /// Every name and alias of the real utility, matched without regard to case as on Windows.
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "h" | "?" | "help" | "/?" | "-h" | "--help" => Self::Help,
            "logs" | "view-logs" => Self::Logs,
            "register" => Self::Register,
            "status" => Self::Status,
            "din" | "driver-install" => Self::DriverInstall,
            "dup" | "driver-upgrade" => Self::DriverUpgrade,
            "dun" | "driver-uninstall" => Self::DriverUninstall,
            "reboot" => Self::Reboot,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Help => "help",
            Self::Logs => "logs",
            Self::Register => "register",
            Self::Status => "status",
            Self::DriverInstall => "driver-install",
            Self::DriverUpgrade => "driver-upgrade",
            Self::DriverUninstall => "driver-uninstall",
            Self::Reboot => "reboot",
        }
    }

    /// Whether `/psserver=` means something to this command. `driver-uninstall` never uses the
    /// server's packages (as in the real utility); it and `reboot` report to the server the
    /// machine is registered with.
    const fn takes_server(self) -> bool {
        matches!(
            self,
            Self::Register | Self::Status | Self::DriverInstall | Self::DriverUpgrade
        )
    }
}

/// A PlateSpin Server address from `/psserver=`: only its origin (scheme, host, port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr(Url);

/// The port of a bare `HOST:PORT` that speaks HTTPS: the real server's.
pub const HTTPS_PORT: u16 = 443;

impl ServerAddr {
    /// `HOST` alone is the real server's address: `https://HOST` (port 443), as the product's
    /// agent reaches it (platespin-product.md 1.5, 5.1). `HOST:PORT` is plain HTTP on that port
    /// (the emulator's local `127.0.0.1:8080`), HTTPS on 443. An `http://` or `https://` URL is
    /// taken as it is.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bare = !text.contains("://");
        let with_scheme = if bare {
            format!("https://{text}")
        } else {
            text.to_owned()
        };
        let mut url = Url::parse(&with_scheme)
            .map_err(|e| format!("/psserver={text:?} is not a server address ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "/psserver={text:?}: the scheme must be http or https"
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("/psserver={text:?} names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "/psserver={text:?}: give credentials with /username= and /password=, not in the address"
            ));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "/psserver={text:?}: give only the host and port (the agent knows the API's path)"
            ));
        }
        // `Url` drops the scheme's default port: a bare `HOST:443` stays https, any other
        // port given with a bare host is plain HTTP.
        if bare
            && let Some(port) = url.port()
            && port != HTTPS_PORT
        {
            url.set_scheme("http")
                .map_err(|()| format!("/psserver={text:?} cannot be reached over HTTP"))?;
        }
        Ok(Self(url))
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl std::fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.origin().ascii_serialization())
    }
}

/// The machine the emulator should be, from `--os` / `--platform` (either implies the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineKind {
    pub os: OsFamily,
    pub platform: Platform,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invocation {
    pub command: Option<Command>,
    pub server: Option<ServerAddr>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub host_name: Option<String>,
    pub kind: Option<MachineKind>,
    /// A PEM file of certificate authorities to trust besides the built-in roots, for a server
    /// with a self-signed certificate.
    pub ca_cert: Option<PathBuf>,
    /// Skip the server certificate check (a test server with a self-signed certificate).
    pub insecure: bool,
}

impl Invocation {
    /// The command; [`parse`] refuses a command line without one. An `Invocation` built by hand
    /// without a command means the help.
    pub fn command(&self) -> Command {
        self.command.unwrap_or(Command::Help)
    }
}

pub const USAGE: &str = "\
Usage: migrate-agent <command> [/psserver=HOST|HOST:PORT|https://HOST[:PORT]] [/username=NAME] [/password=PASSWORD] [options]

Commands:
  h | ? | help               Show this help
  logs | view-logs           Show where the agent keeps its state and log, and the recent log
  register                   Register this machine with the PlateSpin Server given by /psserver=
  status                     Show the controller service and driver status
  din | driver-install       Install the block-based transfer driver
  dup | driver-upgrade       Upgrade the block-based transfer driver
  dun | driver-uninstall     Uninstall the block-based transfer driver (never uses the server)
  reboot                     Restart the emulated machine: the installed driver is loaded

Switches:
  /psserver=ADDRESS          With status, din and dup: use the server's latest driver package instead
                             of the bundled one. With register: the server to register with.
                             HOST means https://HOST (port 443), as the real server listens;
                             HOST:PORT means http://HOST:PORT (https on port 443).
  /username=NAME             The server user for register (default: administrator)
  /password=PASSWORD         That user's password (default: platespin)

Options (the emulated machine):
  --state-dir DIR            Where the machine's state and log are kept [env: MIGRATE_AGENT_HOME]
                             (default: .migrate-agent in the home directory)
  --host-name NAME           The machine's host name
  --os windows|linux         The machine's operating system (default: windows)
  --platform PLATFORM        windows-x64, windows-x86 or linux-x64 (default: the OS's first)
  --ca-cert FILE             Also trust the certificate authorities in this PEM file (https)
  --insecure                 Do not check the server's certificate (https; for test servers only)

Exit status: 0 when the task completed, 1 when it failed, 2 on a usage error.
";

/// Parse the arguments after the program name. `env_home` is `MIGRATE_AGENT_HOME`, passed in so
/// that tests do not depend on the environment.
pub fn parse(args: &[OsString], env_home: Option<OsString>) -> Result<Invocation, String> {
    let mut inv = Invocation::default();
    let mut os: Option<OsFamily> = None;
    let mut platform: Option<Platform> = None;
    let mut args = args.iter();
    while let Some(raw) = args.next() {
        let arg = raw
            .to_str()
            .ok_or_else(|| format!("argument {raw:?} is not valid UTF-8"))?;
        if let Some(long) = arg
            .strip_prefix("--")
            .filter(|l| !l.is_empty() && *l != "help")
        {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let mut value = || -> Result<String, String> {
                let v = match inline.clone() {
                    Some(v) => v,
                    None => args
                        .next()
                        .ok_or_else(|| format!("--{name} needs a value"))?
                        .to_str()
                        .ok_or_else(|| format!("the value of --{name} is not valid UTF-8"))?
                        .to_owned(),
                };
                if v.trim().is_empty() {
                    return Err(format!("--{name} needs a non-empty value"));
                }
                Ok(v)
            };
            if name == "insecure" {
                if inline.is_some() {
                    return Err("--insecure takes no value".to_owned());
                }
                inv.insecure = true;
                continue;
            }
            match name {
                "state-dir" => set(&mut inv.state_dir, "--state-dir", PathBuf::from(value()?))?,
                "host-name" => set(&mut inv.host_name, "--host-name", host_name(&value()?)?)?,
                "os" => set(&mut os, "--os", value()?.parse()?)?,
                "platform" => set(&mut platform, "--platform", value()?.parse()?)?,
                "ca-cert" => set(&mut inv.ca_cert, "--ca-cert", PathBuf::from(value()?))?,
                _ => return Err(format!("unknown option --{name}")),
            }
        } else if let Some(switch) = arg.strip_prefix('/').filter(|s| *s != "?") {
            let Some((name, value)) = switch.split_once('=') else {
                return Err(format!(
                    "switch {arg:?} has no value; write /{switch}=VALUE"
                ));
            };
            if value.is_empty() {
                return Err(format!("/{name}= needs a value"));
            }
            match name.to_ascii_lowercase().as_str() {
                "psserver" => set(&mut inv.server, "/psserver=", ServerAddr::parse(value)?)?,
                "username" => set(&mut inv.username, "/username=", value.to_owned())?,
                "password" => set(&mut inv.password, "/password=", value.to_owned())?,
                _ => return Err(format!("unknown switch /{name}=")),
            }
        } else {
            let command =
                Command::from_name(arg).ok_or_else(|| format!("unknown command {arg:?}"))?;
            if let Some(first) = inv.command {
                return Err(format!(
                    "give one command, not {} and {arg:?}",
                    first.name()
                ));
            }
            inv.command = Some(command);
        }
    }
    // Without a command the real utility does nothing: a usage error, not the help (exit 2).
    if inv.command.is_none() {
        return Err("give a command".to_owned());
    }
    inv.kind = machine_kind(os, platform)?;
    if inv.state_dir.is_none() {
        inv.state_dir = env_home.filter(|h| !h.is_empty()).map(PathBuf::from);
    }
    check_switches(&inv)?;
    Ok(inv)
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{name} is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn host_name(text: &str) -> Result<String, String> {
    // The server's rule for names (no control or invisible characters), and no spaces.
    let name = migrate_core::domain::text::check_name(text, 255)
        .map_err(|why| format!("--host-name {text:?}: {why}"))?;
    if name.chars().any(char::is_whitespace) {
        return Err(format!("--host-name {text:?}: a host name has no spaces"));
    }
    Ok(name.to_owned())
}

fn machine_kind(
    os: Option<OsFamily>,
    platform: Option<Platform>,
) -> Result<Option<MachineKind>, String> {
    Ok(match (os, platform) {
        (None, None) => None,
        (Some(os), None) => Some(MachineKind {
            os,
            platform: Platform::default_for(os),
        }),
        (None, Some(platform)) => Some(MachineKind {
            os: platform.os_family(),
            platform,
        }),
        (Some(os), Some(platform)) if platform.os_family() == os => {
            Some(MachineKind { os, platform })
        }
        (Some(os), Some(platform)) => {
            return Err(format!("--platform {platform} is not a {os} platform"));
        }
    })
}

/// Refuse switches that the command would silently ignore.
fn check_switches(inv: &Invocation) -> Result<(), String> {
    let command = inv.command();
    if command == Command::Help {
        return Ok(());
    }
    if inv.server.is_some() && !command.takes_server() {
        let why = if command == Command::DriverUninstall {
            " (it never uses the server's packages; it reports to the server the machine is registered with)"
        } else {
            ""
        };
        return Err(format!("{} does not take /psserver={why}", command.name()));
    }
    if (inv.username.is_some() || inv.password.is_some()) && command != Command::Register {
        return Err(format!(
            "/username= and /password= are for register, not {}",
            command.name()
        ));
    }
    if command == Command::Register && inv.server.is_none() {
        return Err("register needs the server: /psserver=HOST[:PORT]".into());
    }
    Ok(())
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
