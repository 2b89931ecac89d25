//! Processes: does one exist, what is its command line, dying with the parent, and C's
//! behaviour on a closed pipe.

use crate::error::{Error, Result};
use crate::sys;

/// Restores the default action of `SIGPIPE`, which Rust programs ignore: a later write to a
/// closed pipe then ends the process, as it ends a C program (`ipcs | head -1`).
///
/// # References
/// - [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
pub fn default_sigpipe() {
    sys::process::default_sigpipe();
}

/// Whether process `pid` exists (`kill(pid, 0)`): `Some(false)` when the kernel says
/// there is no such process (`ESRCH`), `Some(true)` when it exists (also when signalling
/// it is not permitted), `None` for a pid that cannot name one process (0 or negative).
///
/// # References
/// - [`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html)
pub fn process_exists(pid: i32) -> Option<bool> {
    sys::process::process_exists(pid)
}

/// The raw command line of process `pid`: the first `max` bytes of `/proc/PID/cmdline`
/// (arguments separated by NUL bytes), or `None` when it cannot be read (no such process,
/// a kernel thread, no permission).
///
/// # References
/// - [`proc_pid_cmdline(5)`](https://man7.org/linux/man-pages/man5/proc_pid_cmdline.5.html)
pub fn process_command_line(pid: i32, max: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    if pid <= 0 {
        return None;
    }
    let file = std::fs::File::open(format!("/proc/{pid}/cmdline")).ok()?;
    let mut buf = Vec::with_capacity(max.min(1 << 16));
    file.take(max as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// Asks the kernel to kill this process (`SIGKILL`) when the thread that created it exits
/// (`prctl(PR_SET_PDEATHSIG)`): a helper process then cannot outlive the program that
/// started it, however that program ends. The setting does not survive `fork`; it does
/// survive `execve`. A parent that died before this call is not noticed: compare
/// [`std::os::unix::process::parent_id`] with the expected pid afterwards.
///
/// # Errors
/// The errno of `prctl` (none is expected).
///
/// # References
/// - [`prctl(2)`](https://man7.org/linux/man-pages/man2/prctl.2.html), `PR_SET_PDEATHSIG`
#[doc(alias = "PR_SET_PDEATHSIG")]
pub fn kill_on_parent_death() -> Result<()> {
    sys::process::kill_on_parent_death()
        .map_err(|e| Error::sys("prctl", "PR_SET_PDEATHSIG, SIGKILL".to_owned(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_exists_a_reaped_child_does_not_and_pid_0_names_none() {
        let me = std::process::id() as i32;
        assert_eq!(process_exists(me), Some(true));
        assert_eq!(process_exists(0), None);
        assert_eq!(process_exists(-1), None);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        // Reaped: the pid names no process until the kernel reuses it, which needs a wrap
        // of the pid space in the meantime.
        assert_eq!(process_exists(pid), Some(false));
        assert_eq!(process_command_line(pid, 100), None);
    }

    #[test]
    fn the_command_line_is_nul_separated_and_cut_at_max() {
        let me = std::process::id() as i32;
        let full = process_command_line(me, 1 << 20).unwrap();
        let argv: Vec<Vec<u8>> = std::env::args_os()
            .map(|a| std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str()).to_vec())
            .collect();
        let mut expected = argv.join(&0u8);
        expected.push(0);
        assert_eq!(full, expected);
        assert_eq!(process_command_line(me, 3).unwrap(), &expected[..3]);
    }
}
