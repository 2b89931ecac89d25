//! What the three listings share: reading a `/proc/sysvipc` table when it can be read, and
//! walking the kernel's table index by index with `*_STAT_ANY` or `*_STAT` otherwise.

use crate::error::Result;
use crate::sys;

/// The rows `parse` finds in the file at `path`, or `Ok(None)` when it cannot be read (no
/// `/proc`, or a kernel without System V IPC), for callers that treat that case apart.
pub(crate) fn from_proc<T>(
    path: &'static str,
    parse: impl FnOnce(&str) -> Result<Vec<T>>,
) -> Result<Option<Vec<T>>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map(Some),
        Err(_) => Ok(None),
    }
}

/// Stats every index up to `max_index` with `stat(index, any)`. With `any` false, only the
/// plain `*_STAT` (readable objects). Otherwise first with the `*_STAT_ANY`
/// command; if that fails for every index (a kernel before 4.17 does not know it), again
/// with the plain `*_STAT`, which lists only what this process may read. Empty slots fail
/// with `EINVAL` and are skipped.
pub(crate) fn stat_all<T>(
    max_index: i32,
    any: bool,
    mut stat: impl FnMut(i32, bool) -> std::result::Result<T, sys::Errno>,
) -> Vec<T> {
    if !any {
        return (0..=max_index)
            .filter_map(|index| stat(index, false).ok())
            .collect();
    }
    let mut out = Vec::new();
    let mut unknown_command = max_index >= 0;
    for index in 0..=max_index {
        match stat(index, true) {
            Ok(row) => {
                out.push(row);
                unknown_command = false;
            }
            Err(e) if e.raw() == sys::EINVAL => {}
            Err(_) => unknown_command = false, // EACCES and the like: the command is known
        }
    }
    if unknown_command {
        out.extend((0..=max_index).filter_map(|index| stat(index, false).ok()));
    }
    out
}

/// Clamps a count the kernel reports as a C `int` to `u64` (negative counts read as 0).
pub(crate) fn non_negative(v: i32) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
