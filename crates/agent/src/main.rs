//! `migrate-agent`: the emulated PlateSpin Migrate Agent (see the `migrate_agent` library).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // The download progress bar is for people: only on a terminal.
    let progress = std::io::stderr().is_terminal();
    let code = migrate_agent::main(
        &args,
        std::env::var_os("MIGRATE_AGENT_HOME"),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
        progress,
    );
    ExitCode::from(code)
}
