//! Processes: whether one exists (`kill(2)` with signal 0), dying with the parent
//! (`prctl(2)` `PR_SET_PDEATHSIG`), and C's behaviour on a closed pipe (`signal(2)`).

use super::conv::cvt;
use super::Errno;

/// Whether process `pid` exists, `kill(pid, 0)`: `Some(false)` only for `ESRCH` (no such
/// process), `Some(true)` otherwise (`EPERM`: it exists but is another user's), `None` for
/// a pid that cannot name one process (0 or negative: `kill` would signal a group).
pub(crate) fn process_exists(pid: i32) -> Option<bool> {
    if pid <= 0 {
        return None;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    Some(rc == 0 || Errno::last().raw() != libc::ESRCH)
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills the calling process when the thread
/// that created it exits.
pub(crate) fn kill_on_parent_death() -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; the other arguments are ignored.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    cvt(rc).map(drop)
}

/// Restores the default action of SIGPIPE (Rust ignores it), so that a write to a closed
/// pipe ends the process as it ends a C program.
pub(crate) fn default_sigpipe() {
    // SAFETY: setting SIGPIPE to SIG_DFL has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
