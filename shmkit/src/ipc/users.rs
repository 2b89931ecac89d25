//! The users and groups that listings name: login and group names, this process's
//! effective uid (whose objects open-or-create trusts).

use crate::sys;

/// The login name of `uid` (`getpwuid_r(3)`), or `None` when no user has it.
///
/// # References
/// - [`getpwuid_r(3)`](https://man7.org/linux/man-pages/man3/getpwuid_r.3.html)
pub fn user_name(uid: u32) -> Option<String> {
    sys::process::user_name(uid)
}

/// The name of group `gid` (`getgrgid_r(3)`), or `None` when no group has it.
///
/// # References
/// - [`getgrgid_r(3)`](https://man7.org/linux/man-pages/man3/getgrgid_r.3.html)
pub fn group_name(gid: u32) -> Option<String> {
    sys::process::group_name(gid)
}

/// This process's effective user id (`geteuid(2)`).
///
/// # References
/// - [`geteuid(2)`](https://man7.org/linux/man-pages/man2/geteuid.2.html)
pub fn effective_uid() -> u32 {
    sys::process::geteuid()
}
