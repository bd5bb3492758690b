//! The emulated Migrate Agent (SPEC 5): the `migrate-agent` command-line utility that installs,
//! upgrades, queries and removes the block-based transfer drivers on an emulated source machine,
//! registers it with the PlateSpin Server and reports its driver state.
//!
//! - [`args`]: the real utility's syntax (`migrate-agent <command> [/psserver=...]`);
//! - [`machine`]: the emulated machine in its state directory;
//! - [`status`]: what is printed, in the user guide's wording;
//! - `client`: HTTP to the server; `bundled`: the drivers built into the binary;
//! - `commands`: the commands, on the driver rules shared with the server
//!   (`migrate_core::domain::driver`).
//!
//! What goes over the wire, and where, is `migrate_core::wire`: the types the server answers with.

pub mod args;
mod bundled;
mod client;
mod commands;
pub mod machine;
pub mod status;

use std::ffi::OsString;
use std::io::Write;

use args::{Command, Invocation};
use commands::Context;
use machine::StateDir;
use status::{FAILED, say};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Bad command line: exit status 2.
    #[error("{0}")]
    Usage(String),
    /// The task failed: exit status 1.
    #[error("{0}")]
    Failed(String),
    /// The task failed and the failing step has already printed why.
    #[error("{0}")]
    Shown(String),
}

impl AgentError {
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Failed(_) | Self::Shown(_) => 1,
        }
    }
}

/// Run the agent on `args` (without the program name) and give its exit status. Steps and results
/// go to `out`, as does "The task failed". A failure's reason is printed once: on `out` under the
/// step that failed ("   Failed: why"), or on `err` ("migrate-agent: why") when it happened
/// outside any step. Usage errors go to `err` with the usage. Scripts read the exit status.
/// `env_home` is `MIGRATE_AGENT_HOME`; `progress` says whether to draw progress bars.
pub fn main(
    args: &[OsString],
    env_home: Option<OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: bool,
) -> u8 {
    let result = args::parse(args, env_home)
        .map_err(AgentError::Usage)
        .and_then(|inv| run(&inv, out, progress));
    match result {
        Ok(()) => 0,
        Err(e) => {
            match &e {
                AgentError::Usage(why) => {
                    say(err, &format!("migrate-agent: {why}\n\n{}", args::USAGE))
                }
                // The failing step printed why on stdout ("   Failed: why"): said once.
                AgentError::Shown(_) => say(out, &format!("\n{FAILED}\n")),
                // No step shows it: stdout says the task failed, stderr says why.
                AgentError::Failed(why) => {
                    say(out, &format!("{FAILED}\n"));
                    say(err, &format!("migrate-agent: {why}\n"));
                }
            }
            let _ = out.flush();
            e.exit_code()
        }
    }
}

/// Run one parsed invocation.
pub fn run(inv: &Invocation, out: &mut dyn Write, progress: bool) -> Result<(), AgentError> {
    let command = inv.command();
    if command == Command::Help {
        say(out, args::USAGE);
        return Ok(());
    }
    let dir = StateDir::resolve(inv.state_dir.clone())?;
    if command != Command::Logs {
        // The server and switches, never the password.
        let server = inv
            .server
            .as_ref()
            .map(|s| format!(" /psserver={s}"))
            .unwrap_or_default();
        dir.log(&format!("{}{server}: started", command.name()));
    }
    let log = dir.clone();
    let mut cx = Context {
        inv,
        dir,
        out,
        progress,
    };
    let result = match command {
        Command::Help => Ok(()),
        Command::Logs => commands::logs(&mut cx),
        Command::Register => commands::register(&mut cx),
        Command::Status => commands::status(&mut cx),
        Command::DriverInstall => commands::install_or_upgrade(&mut cx, false),
        Command::DriverUpgrade => commands::install_or_upgrade(&mut cx, true),
        Command::DriverUninstall => commands::uninstall(&mut cx),
        Command::Reboot => commands::reboot(&mut cx),
    };
    if let Err(AgentError::Failed(why) | AgentError::Usage(why)) = &result {
        log.log(&format!("{}: failed: {why}", command.name()));
    }
    result
}

#[cfg(test)]
mod tests;
