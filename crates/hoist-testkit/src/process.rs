//! Finding the external programs the tests drive, and owning the registry process.

use std::path::PathBuf;
use std::process::Child;

/// The full path of `program` from `PATH`.
///
/// # Panics
///
/// When the program is missing, with the command that installs it: a test that
/// cannot run its real counterpart must fail loudly, never pass by skipping.
pub fn require_tool(program: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file());
    // The Debian package is named after the program for every tool these tests use
    // (docker-registry, skopeo, curl).
    found.unwrap_or_else(|| panic!("{program} is missing: apt-get install -y {program} (scripts/test.sh installs it)"))
}

/// A child process that is killed and reaped when dropped, so that neither a
/// finished test nor one that panics half-way through a start leaves a registry behind.
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Errors mean the process is already gone, which is what we want.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_program_on_the_path() {
        assert!(require_tool("sh").is_absolute());
    }

    #[test]
    #[should_panic(expected = "hoist-no-such-tool is missing: apt-get install -y hoist-no-such-tool")]
    fn a_missing_program_fails_with_the_install_command() {
        require_tool("hoist-no-such-tool");
    }
}
