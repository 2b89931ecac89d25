//! What a receive asks for and gets: [`Selector`], [`RecvOptions`], [`Message`].

use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use crate::sys::ipc::IPC_NOWAIT;
#[cfg(doc)]
use crate::MessageQueue;

/// Which message [`MessageQueue::recv`] takes (`msgtyp` and `MSG_EXCEPT`).
///
/// # References
/// - [`msgop(2)`](https://man7.org/linux/man-pages/man2/msgop.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// The first message of any type (`msgtyp` 0).
    Any,
    /// The first message of exactly this type (`msgtyp` > 0).
    Type(i64),
    /// The first message of the lowest type that is at most this (`msgtyp` < 0).
    UpTo(i64),
    /// The first message of any type but this one (`MSG_EXCEPT`).
    Except(i64),
}

impl Selector {
    /// `msgtyp` and the flags for `msgrcv`.
    pub(crate) fn msgtyp_and_flags(self) -> Result<(i64, i32)> {
        let check = |n: i64| {
            if n > 0 {
                Ok(n)
            } else {
                Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "msgrcv",
                    format!("{self:?}"),
                    "a message type must be positive",
                ))
            }
        };
        Ok(match self {
            Selector::Any => (0, 0),
            Selector::Type(n) => (check(n)?, 0),
            Selector::UpTo(n) => (-check(n)?, 0),
            Selector::Except(n) => (check(n)?, sys::msg::MSG_EXCEPT),
        })
    }
}

/// How to receive; see [`MessageQueue::recv_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecvOptions {
    no_wait: bool,
    truncate: bool,
}

impl RecvOptions {
    /// Block until a message is there; fail on a message longer than the buffer.
    pub const fn new() -> Self {
        RecvOptions {
            no_wait: false,
            truncate: false,
        }
    }

    /// `RecvOptions::new().no_wait()`, usable in constants.
    pub const fn new_no_wait() -> Self {
        RecvOptions {
            no_wait: true,
            truncate: false,
        }
    }

    /// Fail with [`ErrorKind::NoMessage`] instead of waiting (`IPC_NOWAIT`).
    pub const fn no_wait(mut self) -> Self {
        self.no_wait = true;
        self
    }

    /// Take a message longer than the buffer, cutting it (`MSG_NOERROR`); otherwise such a
    /// message stays queued and the call fails with [`ErrorKind::TooBig`].
    pub const fn truncate(mut self) -> Self {
        self.truncate = true;
        self
    }

    /// The `msgrcv` flags these options stand for.
    pub(crate) fn flags(self) -> i32 {
        let no_wait = if self.no_wait { IPC_NOWAIT } else { 0 };
        let truncate = if self.truncate {
            sys::msg::MSG_NOERROR
        } else {
            0
        };
        no_wait | truncate
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its type (> 0).
    pub mtype: i64,
    /// Its bytes.
    pub data: Vec<u8>,
}
