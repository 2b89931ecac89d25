//! Message queues: the listing, the limits and the usage.

use super::proc::ProcTable;
use crate::error::{Error, Result};
use crate::key::Key;
use crate::msg::{MsgId, MsgStat};
use crate::sys;

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
    match std::fs::read_to_string(PROC_MSG) {
        Ok(text) => parse(&text).map(Some),
        Err(_) => Ok(None),
    }
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
    Ok(super::stat_all(max_index, any, |index, any| {
        let cmd = if any {
            sys::msg::MSG_STAT_ANY
        } else {
            sys::msg::MSG_STAT
        };
        sys::msg::stat(index, cmd).map(|(id, ds)| MsgStat::from_ds(MsgId::from_raw(id), &ds))
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
        let mut stat = MsgStat::from_ds(MsgId::from_raw(row.get(c_msqid)?), &sys::msg::zeroed_ds());
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
        stat.qbytes = sys::msg::stat(stat.id.raw(), sys::IPC_STAT)
            .map(|(_, ds)| MsgStat::from_ds(stat.id, &ds).qbytes)
            .unwrap_or(0);
        out.push(stat);
    }
    Ok(out)
}

/// The kernel's limits on message queues (`msgctl(IPC_INFO)`, the values of
/// `/proc/sys/kernel/msg{max,mnb,mni}`).
///
/// # References
/// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html), `IPC_INFO`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MsgLimits {
    /// The longest message, in bytes (`MSGMAX`).
    pub msgmax: u64,
    /// The default most bytes in one queue (`MSGMNB`).
    pub msgmnb: u64,
    /// The most queues on the system (`MSGMNI`).
    pub msgmni: u64,
}

/// The system's current use of message queues (`msgctl(MSG_INFO)`).
///
/// # References
/// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html), `MSG_INFO`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MsgUsage {
    /// Queues that exist (`msgpool`).
    pub queues: u64,
    /// Messages in all queues (`msgmap`).
    pub messages: u64,
    /// Bytes of text in all queues (`msgtql`).
    pub bytes: u64,
    /// The highest index in use in the kernel's table (the kernel reports 0 when the table
    /// is empty).
    pub max_index: i32,
}

fn non_negative(v: i32) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The limits, from `msgctl(IPC_INFO)`.
///
/// # Errors
/// The `msgctl` failure (none is expected on Linux).
#[doc(alias = "IPC_INFO")]
pub fn msg_limits() -> Result<MsgLimits> {
    let (_, i) =
        sys::msg::info(sys::IPC_INFO).map_err(|e| Error::sys("msgctl", "0, IPC_INFO".into(), e))?;
    Ok(MsgLimits {
        msgmax: non_negative(i.msgmax),
        msgmnb: non_negative(i.msgmnb),
        msgmni: non_negative(i.msgmni),
    })
}

/// The usage, from `msgctl(MSG_INFO)`.
///
/// # Errors
/// The `msgctl` failure (none is expected on Linux).
#[doc(alias = "MSG_INFO")]
pub fn msg_usage() -> Result<MsgUsage> {
    let (max_index, i) = sys::msg::info(sys::msg::MSG_INFO)
        .map_err(|e| Error::sys("msgctl", "0, MSG_INFO".into(), e))?;
    Ok(MsgUsage {
        queues: non_negative(i.msgpool),
        messages: non_negative(i.msgmap),
        bytes: non_negative(i.msgtql),
        max_index,
    })
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
