//! Every semaphore set on the system: from `/proc/sysvipc/sem`, or from
//! `semctl(SEM_STAT_ANY)` index by index.

use super::stat::{SemId, SemStat};
use crate::error::{Error, Result};
use crate::ipc::listing::{from_proc, stat_all};
use crate::ipc::proc::ProcTable;
use crate::key::Key;
use crate::sys;
use crate::sys::ipc::zeroed;

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
    from_proc(PROC_SEM, parse)
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
    Ok(stat_all(max_index, any, |index, any| {
        sys::sem::stat_index(index, any).map(|(id, ds)| SemStat::from_ds(SemId::from_raw(id), &ds))
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
        let mut stat = SemStat::from_ds(SemId::from_raw(row.get(c_semid)?), &zeroed());
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
