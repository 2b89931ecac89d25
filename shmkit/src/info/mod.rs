//! The system view: every segment on the system, the kernel's limits and its usage.
//!
//! # References
//! - [`proc_sysvipc(5)`](https://man7.org/linux/man-pages/man5/proc_sysvipc.5.html)
//! - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html), `IPC_INFO`,
//!   `SHM_INFO`, `SHM_STAT_ANY`

use crate::error::{Error, Result};
use crate::key::Key;
use crate::shm::{SegmentStat, ShmId};
use crate::sys;
use proc::ProcTable;

mod msg;
mod proc;
mod sem;

pub use msg::{
    message_queues, message_queues_from_proc, message_queues_from_syscalls, msg_limits, msg_usage,
    readable_message_queues_from_syscalls, MsgLimits, MsgUsage,
};
pub use sem::{
    readable_semaphore_sets_from_syscalls, sem_limits, sem_usage, semaphore_sets,
    semaphore_sets_from_proc, semaphore_sets_from_syscalls, SemLimits, SemUsage,
};

const PROC_SHM: &str = "/proc/sysvipc/shm";

/// Every shared-memory segment on the system (in this IPC namespace), with every field.
///
/// Reads `/proc/sysvipc/shm`, which lists all segments whatever their permissions and also
/// gives resident and swapped bytes; where it cannot be read, falls back to
/// [`segments_from_syscalls`].
///
/// # Errors
/// A malformed `/proc/sysvipc/shm` ([`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch)), or the fallback's errors.
///
/// # References
/// - [`proc_sysvipc(5)`](https://man7.org/linux/man-pages/man5/proc_sysvipc.5.html)
pub fn segments() -> Result<Vec<SegmentStat>> {
    match segments_from_proc()? {
        Some(rows) => Ok(rows),
        None => segments_from_syscalls(),
    }
}

/// Every segment, from `/proc/sysvipc/shm` only: `Ok(None)` when the file cannot be read
/// (no `/proc`, or a kernel without System V IPC), for callers that treat that case apart.
///
/// # Errors
/// A malformed file ([`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch)).
pub fn segments_from_proc() -> Result<Option<Vec<SegmentStat>>> {
    match std::fs::read_to_string(PROC_SHM) {
        Ok(text) => parse_proc_shm(&text).map(Some),
        Err(_) => Ok(None),
    }
}

/// Every segment, found with `shmctl(SHM_INFO)` (the highest index in use) and
/// `shmctl(index, SHM_STAT_ANY)` for each index (`SHM_STAT` on kernels before 4.17, which
/// only lists the segments this process may read), in the kernel's index order. `rss` and
/// `swap` are `None`.
///
/// # Errors
/// The `SHM_INFO` failure.
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
pub fn segments_from_syscalls() -> Result<Vec<SegmentStat>> {
    segments_by_index(true)
}

/// Every segment this process may read, found with `shmctl(SHM_INFO)` and
/// `shmctl(index, SHM_STAT)` for each index, in the kernel's index order: what util-linux's
/// tools list when `/proc/sysvipc/shm` cannot be read.
///
/// # Errors
/// The `SHM_INFO` failure.
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
pub fn readable_segments_from_syscalls() -> Result<Vec<SegmentStat>> {
    segments_by_index(false)
}

fn segments_by_index(any: bool) -> Result<Vec<SegmentStat>> {
    let (max_index, _) =
        sys::shm::shm_info().map_err(|e| Error::sys("shmctl", "0, SHM_INFO".into(), e))?;
    Ok(stat_all(max_index, any, |index, any| {
        sys::shm::stat_index(index, any)
            .map(|(id, ds)| SegmentStat::from_ds(ShmId::from_raw(id), &ds))
    }))
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

/// Parses the text of `/proc/sysvipc/shm`.
fn parse_proc_shm(text: &str) -> Result<Vec<SegmentStat>> {
    let table = ProcTable::parse(PROC_SHM, text)?;
    let [c_key, c_shmid, c_perms, c_size, c_cpid, c_lpid, c_nattch, c_uid, c_gid, c_cuid, c_cgid, c_atime, c_dtime, c_ctime] =
        table.require([
            "key", "shmid", "perms", "size", "cpid", "lpid", "nattch", "uid", "gid", "cuid",
            "cgid", "atime", "dtime", "ctime",
        ])?;
    let c_rss = table.optional_column("rss");
    let c_swap = table.optional_column("swap");
    let mut out = Vec::new();
    for row in table.rows() {
        let perms = row.octal(c_perms)?;
        let mut stat =
            SegmentStat::from_ds(ShmId::from_raw(row.get(c_shmid)?), &sys::shm::zeroed_ds());
        stat.key = Key::from_raw(row.get(c_key)?);
        stat.mode = perms & 0o777;
        stat.dest = perms & sys::shm::SHM_DEST != 0;
        stat.locked = perms & sys::shm::SHM_LOCKED != 0;
        stat.size = row.get(c_size)?;
        stat.cpid = row.get(c_cpid)?;
        stat.lpid = row.get(c_lpid)?;
        stat.nattch = row.get(c_nattch)?;
        stat.uid = row.get(c_uid)?;
        stat.gid = row.get(c_gid)?;
        stat.cuid = row.get(c_cuid)?;
        stat.cgid = row.get(c_cgid)?;
        stat.atime = row.get(c_atime)?;
        stat.dtime = row.get(c_dtime)?;
        stat.ctime = row.get(c_ctime)?;
        stat.rss = row.optional(c_rss)?;
        stat.swap = row.optional(c_swap)?;
        out.push(stat);
    }
    Ok(out)
}

/// The kernel's limits on shared memory (`shmctl(IPC_INFO)`, the values of
/// `/proc/sys/kernel/shm{max,all,mni}`).
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShmLimits {
    /// The largest segment, in bytes (`SHMMAX`).
    pub shmmax: u64,
    /// The smallest segment, in bytes (`SHMMIN`, always 1 on Linux).
    pub shmmin: u64,
    /// The most segments on the system (`SHMMNI`).
    pub shmmni: u64,
    /// The most attachments per process (`SHMSEG`; Linux has no such limit and reports
    /// `SHMMNI`).
    pub shmseg: u64,
    /// The most shared memory on the system, in pages (`SHMALL`).
    pub shmall: u64,
}

/// The system's current use of shared memory (`shmctl(SHM_INFO)`).
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShmUsage {
    /// Segments that exist (`used_ids`).
    pub segments: u64,
    /// Pages allocated to segments (`shm_tot`).
    pub pages: u64,
    /// Pages resident in memory (`shm_rss`).
    pub resident_pages: u64,
    /// Pages swapped out (`shm_swp`).
    pub swapped_pages: u64,
    /// Swap attempts (`swap_attempts`; 0 on modern kernels).
    pub swap_attempts: u64,
    /// Successful swaps (`swap_successes`; 0 on modern kernels).
    pub swap_successes: u64,
    /// The highest index in use in the kernel's table (the kernel reports 0 when the table
    /// is empty).
    pub max_index: i32,
}

/// The limits, from `shmctl(IPC_INFO)`.
///
/// # Errors
/// The `shmctl` failure (none is expected on Linux).
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[doc(alias = "IPC_INFO")]
pub fn shm_limits() -> Result<ShmLimits> {
    let (_, info) =
        sys::shm::ipc_info().map_err(|e| Error::sys("shmctl", "0, IPC_INFO".into(), e))?;
    Ok(ShmLimits {
        shmmax: info.shmmax,
        shmmin: info.shmmin,
        shmmni: info.shmmni,
        shmseg: info.shmseg,
        shmall: info.shmall,
    })
}

/// The usage, from `shmctl(SHM_INFO)`.
///
/// # Errors
/// The `shmctl` failure (none is expected on Linux).
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[doc(alias = "SHM_INFO")]
pub fn shm_usage() -> Result<ShmUsage> {
    let (max_index, info) =
        sys::shm::shm_info().map_err(|e| Error::sys("shmctl", "0, SHM_INFO".into(), e))?;
    Ok(ShmUsage {
        segments: u64::try_from(info.used_ids).unwrap_or(0),
        pages: info.shm_tot,
        resident_pages: info.shm_rss,
        swapped_pages: info.shm_swp,
        swap_attempts: info.swap_attempts,
        swap_successes: info.swap_successes,
        max_index,
    })
}

/// The size of a memory page in bytes (`sysconf(_SC_PAGESIZE)`): the unit of
/// [`ShmLimits::shmall`] and [`ShmUsage::pages`].
///
/// # References
/// - [`sysconf(3)`](https://man7.org/linux/man-pages/man3/sysconf.3.html)
pub fn page_size() -> usize {
    sys::process::page_size()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap
         0          5  1600                  4096   100   101      1     0     0     0     0 1700000000          0 1700000000                  4096                     0
1094861636      32774  3666                 65536   200   200      0  1000  1000  1000  1000          0          0 1700000001                     0                     0
";

    #[test]
    fn parses_proc_rows() {
        let rows = parse_proc_shm(SAMPLE).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, ShmId::from_raw(5));
        assert_eq!(rows[0].mode, 0o600);
        assert!(rows[0].dest && !rows[0].locked);
        assert_eq!(rows[0].rss, Some(4096));
        assert_eq!(rows[1].key.to_string(), "0x41424344");
        assert_eq!(rows[1].mode, 0o666);
        assert!(rows[1].locked && rows[1].dest);
        assert_eq!(rows[1].raw_mode(), 0o3666);
        assert_eq!(rows[1].size, 65536);
        assert_eq!(rows[1].uid, 1000);
    }

    #[test]
    fn malformed_proc_is_an_error_not_a_panic() {
        for text in [
            "",
            "key shmid\n1 2\n",
            &SAMPLE.replace("1600", "zz"),
            &SAMPLE[..SAMPLE.len() - 20],
        ] {
            assert!(parse_proc_shm(text).is_err(), "{text:?}");
        }
    }
}
