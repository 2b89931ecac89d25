//! [`MsgStat`] and [`MsgId`]: what the kernel knows about a message queue.

use crate::key::Key;
use crate::sys::msg::msqid_ds;

crate::ipc::id::ipc_id! {
    /// The kernel's identifier of a message queue (`msqid`).
    ///
    /// # References
    /// - [`msgget(2)`](https://man7.org/linux/man-pages/man2/msgget.2.html)
    #[doc(alias = "msqid")]
    MsgId
}

/// Everything the kernel knows about a queue (`struct msqid_ds`, or a row of
/// `/proc/sysvipc/msg`). Times are seconds since the epoch, 0 for never.
///
/// # References
/// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html), `IPC_STAT`
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MsgStat {
    /// The key.
    pub key: Key,
    /// The id.
    pub id: MsgId,
    /// The owner's user id.
    pub uid: u32,
    /// The owner's group id.
    pub gid: u32,
    /// The creator's user id.
    pub cuid: u32,
    /// The creator's group id.
    pub cgid: u32,
    /// The permission bits.
    pub mode: u32,
    /// Bytes of text queued now (`__msg_cbytes`).
    pub cbytes: u64,
    /// Messages queued now (`msg_qnum`).
    pub qnum: u64,
    /// The most bytes of text the queue holds (`msg_qbytes`). `/proc/sysvipc/msg` does not
    /// show it: a listing row has it only where this process may read the queue, else 0.
    pub qbytes: u64,
    /// The pid of the last `msgsnd` (`msg_lspid`).
    pub lspid: i32,
    /// The pid of the last `msgrcv` (`msg_lrpid`). When a message goes straight to a
    /// receiver that was already waiting, Linux records that receiver's thread id here.
    pub lrpid: i32,
    /// The last `msgsnd` (`msg_stime`).
    pub stime: i64,
    /// The last `msgrcv` (`msg_rtime`).
    pub rtime: i64,
    /// The creation or last change (`msg_ctime`).
    pub ctime: i64,
}

impl MsgStat {
    // The field types are aliases that differ across targets (u32 on 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn from_ds(id: MsgId, ds: &msqid_ds) -> MsgStat {
        MsgStat {
            key: Key::from_raw(ds.msg_perm.__key),
            id,
            uid: ds.msg_perm.uid,
            gid: ds.msg_perm.gid,
            cuid: ds.msg_perm.cuid,
            cgid: ds.msg_perm.cgid,
            mode: u32::from(ds.msg_perm.mode) & 0o777,
            cbytes: ds.__msg_cbytes as u64,
            qnum: ds.msg_qnum as u64,
            qbytes: ds.msg_qbytes as u64,
            lspid: ds.msg_lspid,
            lrpid: ds.msg_lrpid,
            stime: ds.msg_stime as i64,
            rtime: ds.msg_rtime as i64,
            ctime: ds.msg_ctime as i64,
        }
    }
}
