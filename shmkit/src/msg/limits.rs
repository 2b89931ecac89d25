//! The kernel's limits on message queues and their current use.

use crate::error::{Error, Result};
use crate::ipc::listing::non_negative;
use crate::sys;

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

/// The limits, from `msgctl(IPC_INFO)`.
///
/// # Errors
/// The `msgctl` failure (none is expected on Linux).
#[doc(alias = "IPC_INFO")]
pub fn msg_limits() -> Result<MsgLimits> {
    let (_, i) = sys::msg::info(sys::ipc::IPC_INFO)
        .map_err(|e| Error::sys("msgctl", "0, IPC_INFO".into(), e))?;
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
