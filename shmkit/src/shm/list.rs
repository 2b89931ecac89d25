//! Every segment on the system: from `/proc/sysvipc/shm`, or from `shmctl(SHM_STAT_ANY)`
//! index by index.
//!
//! # References
//! - [`proc_sysvipc(5)`](https://man7.org/linux/man-pages/man5/proc_sysvipc.5.html)
//! - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html), `SHM_INFO`,
//!   `SHM_STAT_ANY`

use super::stat::{SegmentStat, ShmId};
use crate::error::{Error, Result};
use crate::ipc::listing::{from_proc, stat_all};
use crate::ipc::proc::ProcTable;
use crate::key::Key;
use crate::sys;
use crate::sys::ipc::zeroed;

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
    from_proc(PROC_SHM, parse_proc_shm)
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
        let mut stat = SegmentStat::from_ds(ShmId::from_raw(row.get(c_shmid)?), &zeroed());
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
