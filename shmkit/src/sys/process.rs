//! Process identity: who we are, and the names of users.

use std::ffi::CStr;

/// `geteuid(2)`: cannot fail.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `getpwuid_r(3)`: the login name of `uid`, or `None` when no user has it.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut pwd = std::mem::MaybeUninit::<libc::passwd>::uninit();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `pwd` is writable storage for a passwd,
        // `buf` is a writable buffer of the length passed, `result` a writable pointer.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                pwd.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: on success `result` points at `pwd`, whose `pw_name` points into `buf`
        // at a NUL-terminated string; both outlive this borrow.
        let name = unsafe { CStr::from_ptr((*result).pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// `getgrgid_r(3)`: the name of group `gid`, or `None` when no group has it.
pub(crate) fn group_name(gid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut grp = std::mem::MaybeUninit::<libc::group>::uninit();
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `user_name`: all pointers are valid, writable and sized as passed.
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                grp.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: on success `result` points at `grp`, whose `gr_name` is NUL-terminated in `buf`.
        let name = unsafe { CStr::from_ptr((*result).gr_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// The size of a memory page, from `sysconf(_SC_PAGESIZE)`.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

/// Whether process `pid` exists, `kill(pid, 0)`: `Some(false)` only for `ESRCH` (no such
/// process), `Some(true)` otherwise (`EPERM`: it exists but is another user's), `None` for
/// a pid that cannot name one process (0 or negative: `kill` would signal a group).
pub(crate) fn process_exists(pid: i32) -> Option<bool> {
    if pid <= 0 {
        return None;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    Some(rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH))
}

/// Whether a thread with id `tid` exists (in this pid namespace): `kill(tid, 0)`, false
/// only for `ESRCH`.
///
/// `kill(2)` looks its argument up as a task id (`find_vpid`, then the task with that
/// `PIDTYPE_PID`), which finds any thread, not only a process's main thread; with signal 0
/// nothing is sent. `EPERM` (a thread of another user) means it exists. A thread that has
/// exited but whose process was not reaped yet still exists here; an id, once freed, can be
/// reused by a new thread.
pub(crate) fn thread_exists(tid: u32) -> bool {
    i32::try_from(tid).ok().and_then(process_exists) == Some(true)
}
