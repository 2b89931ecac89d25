//! Every message queue on the system: from `/proc/sysvipc/msg`, or from
//! `msgctl(MSG_STAT_ANY)` index by index.

use super::stat::{MsgId, MsgStat};
use crate::error::{Error, Result};
use crate::ipc::listing::{from_proc, stat_all};
use crate::ipc::proc::ProcTable;
use crate::key::Key;
use crate::sys;
use crate::sys::ipc::zeroed;

const PROC_MSG: &str = "/proc/sysvipc/msg";

/// Every message queue on the system (in this IPC namespace), from `/proc/sysvipc/msg`,
/// or where it cannot be read from [`message_queues_from_syscalls`].
///
/// # Errors
/// A malformed `/proc/sysvipc/msg` ([`ErrorKind::LayoutMismatch`](crate::ErrorKind)).
///
/// # References
/// - [`proc_sysvipc(5)`](https://man7.org/linux/man-pages/man5/proc_sysvipc.5.html)
pub fn message_queues() -> Result<Vec<MsgStat>> {
    match message_queues_from_proc()? {
        Some(rows) => Ok(rows),
        None => message_queues_from_syscalls(),
    }
}

/// The same from `/proc/sysvipc/msg` only: `Ok(None)` when the file cannot be read.
///
/// # Errors
/// A malformed file ([`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch)).
pub fn message_queues_from_proc() -> Result<Option<Vec<MsgStat>>> {
    from_proc(PROC_MSG, parse)
}

/// Every message queue, from `msgctl(MSG_INFO)` and `msgctl(index, MSG_STAT_ANY)`
/// (`MSG_STAT` before Linux 4.17, which lists only readable queues).
///
/// # Errors
/// The `MSG_INFO` failure.
///
/// # References
/// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html)
pub fn message_queues_from_syscalls() -> Result<Vec<MsgStat>> {
    by_index(true)
}

/// Every one this process may read, from `msgctl(…_INFO)` and `msgctl(index, MSG_STAT)`,
/// in the kernel's index order: what util-linux's tools list when `/proc` cannot be read.
///
/// # Errors
/// The `…_INFO` failure.
///
/// # References
/// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html)
pub fn readable_message_queues_from_syscalls() -> Result<Vec<MsgStat>> {
    by_index(false)
}

fn by_index(any: bool) -> Result<Vec<MsgStat>> {
    let (max_index, _) = sys::msg::info(sys::msg::MSG_INFO)
        .map_err(|e| Error::sys("msgctl", "0, MSG_INFO".into(), e))?;
    Ok(stat_all(max_index, any, |index, any| {
        sys::msg::stat_index(index, any).map(|(id, ds)| MsgStat::from_ds(MsgId::from_raw(id), &ds))
    }))
}

fn parse(text: &str) -> Result<Vec<MsgStat>> {
    let table = ProcTable::parse(PROC_MSG, text)?;
    let [c_key, c_msqid, c_perms, c_cbytes, c_qnum, c_lspid, c_lrpid, c_uid, c_gid, c_cuid, c_cgid, c_stime, c_rtime, c_ctime] =
        table.require([
            "key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid", "gid", "cuid",
            "cgid", "stime", "rtime", "ctime",
        ])?;
    let mut out = Vec::new();
    for row in table.rows() {
        let mut stat = MsgStat::from_ds(MsgId::from_raw(row.get(c_msqid)?), &zeroed());
        stat.key = Key::from_raw(row.get(c_key)?);
        stat.mode = row.octal(c_perms)? & 0o777;
        stat.cbytes = row.get(c_cbytes)?;
        stat.qnum = row.get(c_qnum)?;
        stat.lspid = row.get(c_lspid)?;
        stat.lrpid = row.get(c_lrpid)?;
        stat.uid = row.get(c_uid)?;
        stat.gid = row.get(c_gid)?;
        stat.cuid = row.get(c_cuid)?;
        stat.cgid = row.get(c_cgid)?;
        stat.stime = row.get(c_stime)?;
        stat.rtime = row.get(c_rtime)?;
        stat.ctime = row.get(c_ctime)?;
        // /proc does not show msg_qbytes; IPC_STAT does (when readable).
        stat.qbytes = sys::msg::stat(stat.id.raw())
            .map(|ds| MsgStat::from_ds(stat.id, &ds).qbytes)
            .unwrap_or(0);
        out.push(stat);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_rows_and_rejects_garbage() {
        let text = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n\
                    0 98304   600          12          2   100     0     0     0     0     0 1700000000          0 1700000000\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].id, rows[0].cbytes, rows[0].qnum, rows[0].lspid),
            (MsgId::from_raw(98304), 12, 2, 100)
        );
        assert!(parse(&text.replace(" 12 ", " -x ")).is_err());
    }
}
