//! Semaphore sets: the listing, the limits and the usage.

use super::proc::ProcTable;
use crate::error::{Error, Result};
use crate::key::Key;
use crate::sem::{SemId, SemStat};
use crate::sys;

const PROC_SEM: &str = "/proc/sysvipc/sem";

/// Every semaphore set on the system (in this IPC namespace), from `/proc/sysvipc/sem`, or
/// where it cannot be read from [`semaphore_sets_from_syscalls`].
///
/// # Errors
/// A malformed `/proc/sysvipc/sem` ([`ErrorKind::LayoutMismatch`](crate::ErrorKind)).
///
/// # References
/// - [`proc_sysvipc(5)`](https://man7.org/linux/man-pages/man5/proc_sysvipc.5.html)
pub fn semaphore_sets() -> Result<Vec<SemStat>> {
    match semaphore_sets_from_proc()? {
        Some(rows) => Ok(rows),
        None => semaphore_sets_from_syscalls(),
    }
}

/// The same from `/proc/sysvipc/sem` only: `Ok(None)` when the file cannot be read.
///
/// # Errors
/// A malformed file ([`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch)).
pub fn semaphore_sets_from_proc() -> Result<Option<Vec<SemStat>>> {
    match std::fs::read_to_string(PROC_SEM) {
        Ok(text) => parse(&text).map(Some),
        Err(_) => Ok(None),
    }
}

/// Every semaphore set, from `semctl(SEM_INFO)` and `semctl(index, SEM_STAT_ANY)`
/// (`SEM_STAT` before Linux 4.17, which lists only readable sets).
///
/// # Errors
/// The `SEM_INFO` failure.
///
/// # References
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html)
pub fn semaphore_sets_from_syscalls() -> Result<Vec<SemStat>> {
    by_index(true)
}

/// Every one this process may read, from `semctl(…_INFO)` and `semctl(index, SEM_STAT)`,
/// in the kernel's index order: what util-linux's tools list when `/proc` cannot be read.
///
/// # Errors
/// The `…_INFO` failure.
///
/// # References
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html)
pub fn readable_semaphore_sets_from_syscalls() -> Result<Vec<SemStat>> {
    by_index(false)
}

fn by_index(any: bool) -> Result<Vec<SemStat>> {
    let (max_index, _) = sys::sem::info(sys::sem::SEM_INFO)
        .map_err(|e| Error::sys("semctl", "0, SEM_INFO".into(), e))?;
    Ok(super::stat_all(max_index, any, |index, any| {
        let cmd = if any {
            sys::sem::SEM_STAT_ANY
        } else {
            sys::sem::SEM_STAT
        };
        sys::sem::stat(index, cmd).map(|(id, ds)| SemStat::from_ds(SemId::from_raw(id), &ds))
    }))
}

fn parse(text: &str) -> Result<Vec<SemStat>> {
    let table = ProcTable::parse(PROC_SEM, text)?;
    let [c_key, c_semid, c_perms, c_nsems, c_uid, c_gid, c_cuid, c_cgid, c_otime, c_ctime] = table
        .require([
            "key", "semid", "perms", "nsems", "uid", "gid", "cuid", "cgid", "otime", "ctime",
        ])?;
    let mut out = Vec::new();
    for row in table.rows() {
        let mut stat = SemStat::from_ds(SemId::from_raw(row.get(c_semid)?), &sys::sem::zeroed_ds());
        stat.key = Key::from_raw(row.get(c_key)?);
        stat.mode = row.octal(c_perms)? & 0o777;
        stat.nsems = row.get(c_nsems)?;
        stat.uid = row.get(c_uid)?;
        stat.gid = row.get(c_gid)?;
        stat.cuid = row.get(c_cuid)?;
        stat.cgid = row.get(c_cgid)?;
        stat.otime = row.get(c_otime)?;
        stat.ctime = row.get(c_ctime)?;
        out.push(stat);
    }
    Ok(out)
}

/// The kernel's limits on semaphores (`semctl(IPC_INFO)`, the values of
/// `/proc/sys/kernel/sem`).
///
/// # References
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html), `IPC_INFO`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemLimits {
    /// The most semaphores in one set (`SEMMSL`).
    pub semmsl: u64,
    /// The most semaphores on the system (`SEMMNS`).
    pub semmns: u64,
    /// The most operations in one `semop` call (`SEMOPM`).
    pub semopm: u64,
    /// The most sets on the system (`SEMMNI`).
    pub semmni: u64,
    /// The largest value of a semaphore (`SEMVMX`).
    pub semvmx: u64,
    /// The largest undo adjustment (`SEMAEM`).
    pub semaem: u64,
}

/// The system's current use of semaphores (`semctl(SEM_INFO)`).
///
/// # References
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html), `SEM_INFO`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemUsage {
    /// Sets that exist (`semusz`).
    pub sets: u64,
    /// Semaphores in all sets (`semaem`).
    pub semaphores: u64,
    /// The highest index in use in the kernel's table (the kernel reports 0 when the table
    /// is empty).
    pub max_index: i32,
}

fn non_negative(v: i32) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The limits, from `semctl(IPC_INFO)`.
///
/// # Errors
/// The `semctl` failure (none is expected on Linux).
#[doc(alias = "IPC_INFO")]
pub fn sem_limits() -> Result<SemLimits> {
    let (_, i) =
        sys::sem::info(sys::IPC_INFO).map_err(|e| Error::sys("semctl", "0, IPC_INFO".into(), e))?;
    Ok(SemLimits {
        semmsl: non_negative(i.semmsl),
        semmns: non_negative(i.semmns),
        semopm: non_negative(i.semopm),
        semmni: non_negative(i.semmni),
        semvmx: non_negative(i.semvmx),
        semaem: non_negative(i.semaem),
    })
}

/// The usage, from `semctl(SEM_INFO)`.
///
/// # Errors
/// The `semctl` failure (none is expected on Linux).
#[doc(alias = "SEM_INFO")]
pub fn sem_usage() -> Result<SemUsage> {
    let (max_index, i) = sys::sem::info(sys::sem::SEM_INFO)
        .map_err(|e| Error::sys("semctl", "0, SEM_INFO".into(), e))?;
    Ok(SemUsage {
        sets: non_negative(i.semusz),
        semaphores: non_negative(i.semaem),
        max_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_rows_and_rejects_garbage() {
        let text = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n\
                    1094861636          3   666          2     0     0     0     0          0 1700000000\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].key.to_string(), rows[0].mode, rows[0].nsems),
            ("0x41424344".into(), 0o666, 2)
        );
        assert!(parse(&text.replace(" 2 ", " x ")).is_err());
        assert!(parse("key semid\n").is_err());
    }
}
