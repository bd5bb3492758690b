//! The agent's commands. Each prints its steps, changes the emulated machine through the shared
//! driver rules (`domain::driver::apply`), and reports the result to the server it is registered
//! with.

use std::borrow::Cow;
use std::io::{Cursor, Write};

use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::AgentError;
use super::args::{Invocation, ServerAddr};
use super::bundled;
use super::client::Client;
use super::machine::{Machine, Registration, StateDir};
use super::status::{COMPLETED, Steps, driver_lines, say, status_report};
use migrate_core::domain::driver::{self, DriverAction, RefusedAction};
use migrate_core::domain::platform::ControllerService;
use migrate_core::domain::version::DriverVersion;
use migrate_core::package;
use migrate_core::wire::PackageView;

/// The server's default administrator, as the emulator starts with.
const DEFAULT_USER: (&str, &str) = ("administrator", "platespin");

pub struct Context<'a> {
    pub inv: &'a Invocation,
    pub dir: StateDir,
    pub out: &'a mut dyn Write,
    /// Draw download progress bars: only when stderr is a terminal.
    pub progress: bool,
}

impl Context<'_> {
    fn open(&self) -> Result<Machine, AgentError> {
        self.dir.open(self.inv.kind, self.inv.host_name.clone())
    }

    /// The client for `/psserver=`, if given.
    fn client(&self) -> Result<Option<Client>, AgentError> {
        self.inv
            .server
            .as_ref()
            .map(|addr| Client::new(addr, self.inv.ca_cert.as_deref(), self.inv.insecure))
            .transpose()
    }
}

/// Where a driver package comes from.
enum Package {
    Bundled(DriverVersion, &'static [u8]),
    Server(PackageView),
}

impl Package {
    fn version(&self) -> DriverVersion {
        match self {
            Self::Bundled(version, _) => *version,
            Self::Server(info) => info.version,
        }
    }
}

pub fn status(cx: &mut Context) -> Result<(), AgentError> {
    let machine = cx.open()?;
    let client = cx.client()?;
    let total = 2 + usize::from(client.is_some());
    let mut steps = Steps::new(&mut *cx.out, &cx.dir, "status", total);
    // The emulated machine's state was read above; the steps keep the real utility's transcript.
    steps.step("Querying the PlateSpin controller service", || Ok(()))?;
    steps.step("Querying the installed PlateSpin driver version", || Ok(()))?;
    let package = match &client {
        Some(c) => {
            let title = format!(
                "Querying the PlateSpin Server at {} for the latest {} driver package",
                c.addr(),
                machine.platform
            );
            steps.step(&title, || {
                c.latest_package(machine.platform).map(|p| p.version)
            })?
        }
        None => bundled::package(machine.platform).0,
    };
    steps.finish(&status_report(
        machine.controller_service,
        machine.driver,
        package,
    ));
    Ok(())
}

/// `driver-install` and `driver-upgrade`: the bundled package, or the server's latest.
pub fn install_or_upgrade(cx: &mut Context, upgrade: bool) -> Result<(), AgentError> {
    let mut machine = cx.open()?;
    let client = cx.client()?;
    let registration = machine.registration.clone();
    let (command, verb) = if upgrade {
        ("driver-upgrade", "Upgrading the PlateSpin driver to")
    } else {
        ("driver-install", "Installing the PlateSpin driver")
    };
    let total = 4 + usize::from(registration.is_some());
    let progress = cx.progress;
    let dir = &cx.dir;
    let mut steps = Steps::new(&mut *cx.out, dir, command, total);
    let platform = machine.platform;

    let (package, origin) = match &client {
        Some(c) => {
            let title = format!(
                "Querying the PlateSpin Server at {} for the latest {platform} driver package",
                c.addr()
            );
            let info = steps.step(&title, || c.latest_package(platform))?;
            (
                Package::Server(info),
                format!("the latest on the PlateSpin Server at {}", c.addr()),
            )
        }
        None => {
            let title = format!("Locating the bundled {platform} driver package");
            let (version, bytes) = steps.step(&title, || Ok(bundled::package(platform)))?;
            (
                Package::Bundled(version, bytes),
                "the one bundled with this agent".to_owned(),
            )
        }
    };
    let version = package.version();
    let action = if upgrade {
        DriverAction::Upgrade(version)
    } else {
        DriverAction::Install(version)
    };
    // Refuse before downloading anything: the rules do not depend on the package's bytes.
    steps.step("Checking the installed PlateSpin driver", || {
        driver::apply(machine.os_family, machine.driver, action)
            .map(|_| ())
            .map_err(|e| refused(&e, &origin))
    })?;

    let title = match &package {
        Package::Server(_) => format!("Downloading the PlateSpin driver package {version}"),
        Package::Bundled(..) => format!("Unpacking the bundled PlateSpin driver package {version}"),
    };
    steps.step(&title, || {
        let bytes: Cow<[u8]> = match (&package, &client) {
            (Package::Server(info), Some(c)) => {
                let bar = progress_bar(progress);
                let result = c.download(info, &bar);
                bar.finish_and_clear();
                Cow::Owned(result?)
            }
            (Package::Bundled(_, bytes), _) => Cow::Borrowed(*bytes),
            (Package::Server(_), None) => {
                return Err(AgentError::Failed("no server to download from".into()));
            }
        };
        // The archive must also be the driver it claims to be (same check as the server's).
        package::check(Cursor::new(&bytes[..]), platform, version)
            .map(|_| ())
            .map_err(|e| AgentError::Failed(format!("the driver package was refused: {e}")))
    })?;

    steps.step(&format!("{verb} {version}"), || {
        let applied = driver::apply(machine.os_family, machine.driver, action)
            .map_err(|e| refused(&e, &origin))?;
        machine.driver = applied.state;
        dir.save(&machine)
    })?;
    report(&mut steps, cx.inv, registration.as_ref(), &machine)?;
    steps.finish(&closing(cx.inv, &machine));
    Ok(())
}

/// `driver-uninstall`: never uses the server's packages, as in the real utility.
pub fn uninstall(cx: &mut Context) -> Result<(), AgentError> {
    let mut machine = cx.open()?;
    let registration = machine.registration.clone();
    let total = 2 + usize::from(registration.is_some());
    let dir = &cx.dir;
    let mut steps = Steps::new(&mut *cx.out, dir, "driver-uninstall", total);
    let os = machine.os_family;
    let applied = steps.step("Checking the installed PlateSpin driver", || {
        driver::apply(os, machine.driver, DriverAction::Uninstall)
            .map_err(|e| AgentError::Failed(e.to_string()))
    })?;
    steps.step("Uninstalling the PlateSpin driver", || {
        machine.driver = applied.state;
        dir.save(&machine)
    })?;
    report(&mut steps, cx.inv, registration.as_ref(), &machine)?;
    steps.finish(&closing(cx.inv, &machine));
    Ok(())
}

/// `reboot` (the emulator's own): the installed driver becomes the running one, and a controller
/// service that is installed starts with the machine.
pub fn reboot(cx: &mut Context) -> Result<(), AgentError> {
    let mut machine = cx.open()?;
    let registration = machine.registration.clone();
    let total = 1 + usize::from(registration.is_some());
    let dir = &cx.dir;
    let mut steps = Steps::new(&mut *cx.out, dir, "reboot", total);
    steps.step(&format!("Restarting {}", machine.host_name), || {
        let applied = driver::apply(machine.os_family, machine.driver, DriverAction::Reboot)
            .map_err(|e| AgentError::Failed(e.to_string()))?;
        machine.driver = applied.state;
        if machine.controller_service == ControllerService::Installed {
            machine.controller_service = ControllerService::Running;
        }
        dir.save(&machine)
    })?;
    report(&mut steps, cx.inv, registration.as_ref(), &machine)?;
    steps.finish(&closing(cx.inv, &machine));
    Ok(())
}

/// `register`: idempotent on the server (per machine id); keeps the fresh agent token, installs
/// the emulated controller service and reports the driver state, so that a driver installed
/// earlier without a reboot shows up on the server at once.
pub fn register(cx: &mut Context) -> Result<(), AgentError> {
    let mut machine = cx.open()?;
    let client = cx.client()?.ok_or_else(|| {
        AgentError::Usage("register needs the server: /psserver=HOST[:PORT]".into())
    })?;
    let user = cx.inv.username.as_deref().unwrap_or(DEFAULT_USER.0);
    let password = cx.inv.password.as_deref().unwrap_or(DEFAULT_USER.1);
    let dir = &cx.dir;
    let mut steps = Steps::new(&mut *cx.out, dir, "register", 3);
    let title = format!(
        "Registering {} with the PlateSpin Server at {}",
        machine.host_name,
        client.addr()
    );
    let (registration, created) = steps.step(&title, || {
        let (registered, created) = client.register(user, password, &machine)?;
        let registration = Registration {
            server: client.addr().to_string(),
            source_id: registered.source.id,
            agent_token: registered.agent_token,
            registered_at: Utc::now(),
        };
        machine.registration = Some(registration.clone());
        dir.save(&machine)?;
        Ok((registration, created))
    })?;
    steps.step("Installing the PlateSpin controller service", || {
        machine.controller_service = ControllerService::Running;
        dir.save(&machine)
    })?;
    report(&mut steps, cx.inv, Some(&registration), &machine)?;
    let how = if created {
        "Registered"
    } else {
        "Registered again"
    };
    steps.finish(&format!(
        "{COMPLETED}\n{how} with the PlateSpin Server at {} as source {}\n",
        registration.server, registration.source_id
    ));
    Ok(())
}

/// `logs`: where the machine's state and log are, and the latest log lines.
pub fn logs(cx: &mut Context) -> Result<(), AgentError> {
    const LINES: usize = 20;
    let dir = &cx.dir;
    let state = dir.state_file();
    let mut text = format!(
        "Migrate Agent logs\n    State directory: {}\n    Machine state file: {}{}\n    Log file: {}\n\n",
        dir.path().display(),
        state.display(),
        if state.exists() {
            ""
        } else {
            " (not created yet)"
        },
        dir.log_file().display(),
    );
    let tail = dir.log_tail(LINES)?;
    if tail.is_empty() {
        text.push_str("No log entries yet.\n");
    } else {
        text.push_str(&format!("Last {} log entries:\n", tail.len()));
        for line in tail {
            text.push_str(&format!("    {line}\n"));
        }
    }
    say(cx.out, &text);
    Ok(())
}

/// The last step of every change: tell the server the machine is registered with.
fn report(
    steps: &mut Steps,
    inv: &Invocation,
    registration: Option<&Registration>,
    machine: &Machine,
) -> Result<(), AgentError> {
    let Some(registration) = registration else {
        return Ok(());
    };
    let title = format!(
        "Reporting the driver state to the PlateSpin Server at {}",
        registration.server
    );
    steps.step(&title, || {
        let addr = ServerAddr::parse(&registration.server).map_err(AgentError::Failed)?;
        let client = Client::new(&addr, inv.ca_cert.as_deref(), inv.insecure)?;
        client.report(registration, machine).map_err(|e| match e {
            AgentError::Failed(why) => AgentError::Failed(format!(
                "the driver was changed here, but the server was not told: {why}"
            )),
            other => other,
        })
    })
}

/// What a command that changed the driver prints after its steps.
fn closing(inv: &Invocation, machine: &Machine) -> String {
    let mut text = format!("{COMPLETED}\n{}", driver_lines(machine.driver));
    if machine.registration.is_none() && inv.server.is_some() {
        text.push_str(
            "This machine is not registered with a PlateSpin Server, so no server was told; use register to register it.\n",
        );
    }
    text
}

/// A refusal by the driver rules, with where the offered package came from when that explains it.
fn refused(refusal: &RefusedAction, origin: &str) -> AgentError {
    AgentError::Failed(match refusal {
        RefusedAction::NotNewer { .. } => {
            format!("{refusal}: the installed driver is already the latest ({origin})")
        }
        other => other.to_string(),
    })
}

fn progress_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("   [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
