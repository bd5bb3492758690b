//! What the agent prints: its numbered steps in the real utility's style, and the status block of
//! the user guide (SPEC 5) with wording for every driver and controller-service state.

use std::io::Write;

use super::AgentError;
use super::machine::StateDir;
use migrate_core::domain::driver::DriverState;
use migrate_core::domain::platform::ControllerService;
use migrate_core::domain::version::DriverVersion;

pub const COMPLETED: &str = "The task completed successfully";
pub const FAILED: &str = "The task failed";

/// The line under "PlateSpin Controller Service Status".
pub fn controller_line(service: ControllerService) -> &'static str {
    match service {
        ControllerService::NotInstalled => "The PlateSpin Controller service is not installed",
        ControllerService::Installed => {
            "The PlateSpin Controller service is installed but not running"
        }
        ControllerService::Running => "The PlateSpin Controller service is running",
    }
}

/// The value of "Installed Driver Version:".
pub fn installed_value(driver: DriverState) -> String {
    driver
        .installed
        .map_or_else(|| "Not installed".to_owned(), |v| v.to_string())
}

/// The value of "Running Driver Version:": the reference's reminder to reboot whenever the running
/// driver is not the installed one.
pub fn running_value(driver: DriverState) -> String {
    match (driver.installed, driver.running) {
        (Some(_), None) => "Not running. Reboot to load the driver.".to_owned(),
        (None, None) => "Not running".to_owned(),
        (Some(installed), Some(running)) if installed == running => running.to_string(),
        (Some(_), Some(running)) => format!("{running}. Reboot to load the installed driver."),
        (None, Some(running)) => format!("{running}. Reboot to unload the driver."),
    }
}

/// "Upgrade available" (SPEC 3.2): the package the agent would use is newer than the installed
/// driver. With nothing installed there is nothing to upgrade.
pub fn upgrade_available(driver: DriverState, package: DriverVersion) -> bool {
    driver
        .installed
        .is_some_and(|installed| package > installed)
}

/// The driver lines, shared by `status` and the commands that change the driver.
pub fn driver_lines(driver: DriverState) -> String {
    format!(
        "PlateSpin Driver Status\n    Installed Driver Version: {}\n    Running Driver Version: {}\n",
        installed_value(driver),
        running_value(driver),
    )
}

/// The line between the controller service and the driver: three spaces, as in the user guide.
pub const SEPARATOR: &str = "   ";

/// Everything `status` prints after its steps.
pub fn status_report(
    service: ControllerService,
    driver: DriverState,
    package: DriverVersion,
) -> String {
    format!(
        "{COMPLETED}\nPlateSpin Controller Service Status\n    {}\n{SEPARATOR}\n{}    Upgrade Available: {}\n",
        controller_line(service),
        driver_lines(driver),
        if upgrade_available(driver, package) {
            "Yes"
        } else {
            "No"
        },
    )
}

/// Prints "Step i of n: ..." then "   Done" or "   Failed: why", and logs the same.
pub struct Steps<'a> {
    out: &'a mut dyn Write,
    dir: &'a StateDir,
    command: &'static str,
    total: usize,
    done: usize,
}

impl<'a> Steps<'a> {
    pub fn new(
        out: &'a mut dyn Write,
        dir: &'a StateDir,
        command: &'static str,
        total: usize,
    ) -> Self {
        Self {
            out,
            dir,
            command,
            total,
            done: 0,
        }
    }

    pub fn step<T>(
        &mut self,
        title: &str,
        work: impl FnOnce() -> Result<T, AgentError>,
    ) -> Result<T, AgentError> {
        self.done += 1;
        let head = format!("Step {} of {}: {title}", self.done, self.total);
        say(self.out, &format!("{head}\n"));
        // Shown before the work starts, so that a progress bar appears under its step.
        let _ = self.out.flush();
        match work() {
            Ok(value) => {
                say(self.out, "   Done\n");
                self.dir.log(&format!("{}: {head}: done", self.command));
                Ok(value)
            }
            Err(AgentError::Failed(why)) => {
                say(self.out, &format!("   Failed: {why}\n"));
                self.dir
                    .log(&format!("{}: {head}: failed: {why}", self.command));
                Err(AgentError::Shown(why))
            }
            Err(other) => Err(other),
        }
    }

    /// The closing lines of a task that completed.
    pub fn finish(self, text: &str) {
        say(self.out, &format!("\n{text}"));
        self.dir.log(&format!("{}: completed", self.command));
    }
}

/// Write to the output. A closed stdout (`| head`) must not stop a task in the middle of a change,
/// so write errors are dropped here.
pub fn say(out: &mut dyn Write, text: &str) {
    let _ = out.write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const V11: DriverVersion = DriverVersion::new(8, 0, 0, 11);
    const V12: DriverVersion = DriverVersion::new(8, 0, 0, 12);

    fn st(installed: Option<DriverVersion>, running: Option<DriverVersion>) -> DriverState {
        DriverState { installed, running }
    }

    /// The status block in the user guide, from the line after the command line to the end of the
    /// block, byte for byte (its blank line under the controller service is three spaces).
    fn reference_block() -> String {
        const NAME: &str = "shared/reference/000_d38da155892571e1.txt";
        let fallback = "Step 1 of 2: Querying the PlateSpin controller service\n   Done\nStep 2 of 2: Querying the installed PlateSpin driver version\n   Done\n\nThe task completed successfully\nPlateSpin Controller Service Status\n    The PlateSpin Controller service is not installed\n   \nPlateSpin Driver Status\n    Installed Driver Version: 8.0.0.11\n    Running Driver Version: Not running. Reboot to load the driver.\n    Upgrade Available: No\n";
        // The guide sits beside the repository (or beside the directory of its worktrees) in the
        // team's workspace: the nearest ancestor that has it. The copy above keeps the test
        // meaningful where none does.
        let text = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .find_map(|dir| std::fs::read_to_string(dir.join(NAME)).ok())
            .unwrap_or_else(|| format!("x status\n{fallback}"));
        let start = text
            .find(" status\n")
            .map(|at| at + " status\n".len())
            .expect("the reference has the status command line");
        let end = text[start..]
            .find("    Upgrade Available: ")
            .and_then(|at| text[start + at..].find('\n').map(|nl| start + at + nl + 1))
            .expect("the reference has the end of the status block");
        let block = text[start..end].to_owned();
        assert_eq!(
            block.lines().count(),
            13,
            "the reference block was not found: {block:?}"
        );
        block
    }

    #[test]
    fn the_reference_block_byte_for_byte() {
        let steps = "Step 1 of 2: Querying the PlateSpin controller service\n   Done\nStep 2 of 2: Querying the installed PlateSpin driver version\n   Done\n\n";
        let printed = format!(
            "{steps}{}",
            status_report(ControllerService::NotInstalled, st(Some(V11), None), V11)
        );
        assert_eq!(printed, reference_block());
    }

    #[test]
    fn every_driver_state_has_its_wording() {
        let cases = [
            (st(None, None), "Not installed", "Not running", V11, "No"),
            (
                st(Some(V11), None),
                "8.0.0.11",
                "Not running. Reboot to load the driver.",
                V11,
                "No",
            ),
            (st(Some(V11), Some(V11)), "8.0.0.11", "8.0.0.11", V11, "No"),
            (st(Some(V11), Some(V11)), "8.0.0.11", "8.0.0.11", V12, "Yes"),
            (
                st(Some(V12), Some(V11)),
                "8.0.0.12",
                "8.0.0.11. Reboot to load the installed driver.",
                V12,
                "No",
            ),
            (
                st(None, Some(V11)),
                "Not installed",
                "8.0.0.11. Reboot to unload the driver.",
                V12,
                "No",
            ),
            // nothing installed: nothing to upgrade, whatever the server has
            (st(None, None), "Not installed", "Not running", V12, "No"),
        ];
        for (driver, installed, running, package, upgrade) in cases {
            let expected = format!(
                "The task completed successfully\nPlateSpin Controller Service Status\n    The PlateSpin Controller service is running\n   \nPlateSpin Driver Status\n    Installed Driver Version: {installed}\n    Running Driver Version: {running}\n    Upgrade Available: {upgrade}\n"
            );
            assert_eq!(
                status_report(ControllerService::Running, driver, package),
                expected,
                "{driver:?} {package}"
            );
        }
    }

    #[test]
    fn every_controller_service_state_has_its_wording() {
        let cases = [
            (
                ControllerService::NotInstalled,
                "The PlateSpin Controller service is not installed",
            ),
            (
                ControllerService::Installed,
                "The PlateSpin Controller service is installed but not running",
            ),
            (
                ControllerService::Running,
                "The PlateSpin Controller service is running",
            ),
        ];
        for (service, line) in cases {
            let report = status_report(service, DriverState::NONE, V11);
            let lines: Vec<&str> = report.lines().collect();
            assert_eq!(
                lines[1..4],
                [
                    "PlateSpin Controller Service Status",
                    &format!("    {line}"),
                    "   "
                ]
            );
        }
    }
}
