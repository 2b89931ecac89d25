//! The errors of a send that did not happen, shared by every channel kind: the message (or
//! value) is handed back with the reason.

use crate::error::{Error, ErrorKind};
use std::fmt;

/// A send that did not happen; the message is handed back.
#[derive(Debug)]
pub enum TrySendError<'a> {
    /// The ring has no room for the message now.
    Full(&'a [u8]),
    /// The send failed for another reason: too big, a dead receiver, a corrupt channel.
    Failed(&'a [u8], Error),
}

impl<'a> TrySendError<'a> {
    /// The message that was not sent.
    pub fn into_message(self) -> &'a [u8] {
        match self {
            TrySendError::Full(m) | TrySendError::Failed(m, _) => m,
        }
    }
    /// The error ([`ErrorKind::WouldBlock`] for a full ring).
    pub fn into_error(self) -> Error {
        match self {
            TrySendError::Full(_) => Error::new(
                ErrorKind::WouldBlock,
                "Sender::try_send",
                String::new(),
                "the channel is full",
            ),
            TrySendError::Failed(_, e) => e,
        }
    }
}

impl fmt::Display for TrySendError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(m) => write!(f, "the channel is full ({} bytes not sent)", m.len()),
            TrySendError::Failed(m, e) => write!(f, "{e} ({} bytes not sent)", m.len()),
        }
    }
}

impl std::error::Error for TrySendError<'_> {}

/// A typed send that did not happen: the value is handed back with the reason
/// ([`ErrorKind::WouldBlock`] for a full ring).
#[derive(Debug)]
pub struct TypedSendError<T> {
    /// The value that was not sent.
    pub value: T,
    /// Why.
    pub error: Error,
}

impl<T> fmt::Display for TypedSendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (value not sent)", self.error)
    }
}

impl<T: fmt::Debug> std::error::Error for TypedSendError<T> {}
