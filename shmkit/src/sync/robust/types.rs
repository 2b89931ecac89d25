//! The values the raw lock's calls take and give ([`Wait`]; [`Acquired`] or
//! [`MutexError`]) and its limits: what the list, the protocol and the interface share.

use crate::error::{Error, ErrorKind};
use crate::sys::pthread::EBUSY;
use crate::sys::Errno;
use std::time::{Duration, Instant};

/// How many of these mutexes one thread can hold at once (the size of its record,
/// which lives in thread-local storage without a destructor, so that it is there even while
/// other thread-locals are being destroyed).
pub(crate) const MAX_HELD: usize = 32;

/// How long a blocked lock waits between two checks that the thread named by the lock
/// word still exists (the same period as the channels' liveness checks).
pub(crate) const LIVENESS_PERIOD: Duration = Duration::from_millis(50);

/// How a lock ended, when it acquired the mutex.
///
/// Four bytes wide (like the error number beside it in a `Result`), so that results are
/// copied as whole words: a byte here made the compiler copy the `Result` in odd-sized
/// pieces, and the next whole-word load of it stalled on store forwarding, which cost the
/// uncontended lock a measurable part of its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Acquired {
    /// A clean lock.
    Clean,
    /// The previous holder died holding it (`EOWNERDEAD`): the caller holds it now, marked
    /// inconsistent until [`RobustLock::mark_consistent`](super::RobustLock::mark_consistent).
    OwnerDied,
}

/// Why a call failed.
// `Box<String>`: one word (a `String` is three, `Box<str>` two), so that the whole error is
// two words and a `Result` of it travels in registers on the lock's fast path.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MutexError {
    /// glibc's error number for the same outcome: `EBUSY` (held, `try_lock`), `ETIMEDOUT`,
    /// `EDEADLK` (this thread may hold it), `ENOTRECOVERABLE`, `EPERM` (unlock of a mutex this
    /// thread does not hold).
    Sys(Errno),
    /// A word holds a value no correct party leaves there: which word, what it holds, and
    /// what was done about it. (Boxed, like the next one: the error stays two words, so that
    /// results travel in registers on the fast path.)
    Corrupt(Box<String>),
    /// The call cannot be made on this thread (no robust list registered, or re-entered
    /// from a signal handler): why.
    Unsupported(Box<String>),
    /// This thread already holds [`MAX_HELD`] of these mutexes.
    TooMany,
}

impl MutexError {
    pub(super) fn sys(errno: i32) -> MutexError {
        MutexError::Sys(Errno::from_raw(errno))
    }

    #[cold]
    pub(super) fn corrupt(what: String) -> MutexError {
        MutexError::Corrupt(Box::new(what))
    }

    #[cold]
    pub(super) fn unsupported(why: impl Into<String>) -> MutexError {
        MutexError::Unsupported(Box::new(why.into()))
    }

    /// Whether this is `EBUSY`: a `try_lock` found the mutex held.
    #[inline]
    pub(crate) fn is_busy(&self) -> bool {
        matches!(self, MutexError::Sys(e) if e.raw() == EBUSY)
    }

    /// The crate error for a failed call `call` on the lock of the structure described by
    /// `context`: the error number glibc gives for the same outcome,
    /// [`ErrorKind::Corrupt`] naming the word another process overwrote, or why the call
    /// cannot be made.
    #[cold]
    #[inline(never)]
    pub(crate) fn into_error(self, call: &'static str, context: String) -> Error {
        match self {
            MutexError::Sys(errno) => Error::sys(call, context, errno),
            MutexError::Corrupt(what) => Error::new(
                ErrorKind::Corrupt,
                call,
                context,
                format!(
                    "the robust mutex was overwritten by another process: {}",
                    *what
                ),
            ),
            MutexError::Unsupported(why) => Error::new(ErrorKind::Unsupported, call, context, *why),
            MutexError::TooMany => Error::new(
                ErrorKind::LimitExceeded,
                call,
                context,
                format!("this thread already holds {MAX_HELD} robust mutexes"),
            ),
        }
    }
}

/// How long a lock may wait.
#[derive(Clone, Copy)]
pub(super) enum Wait {
    /// Not at all (`try_lock`); with `true`, a holder that no longer exists is checked for
    /// (a system call) and counts as dead.
    No(bool),
    /// As long as the holder lives.
    Forever,
    /// Until this instant.
    Until(Instant),
}
