//! The crate's one error type.

use crate::sys::Errno;
use std::fmt;

/// What went wrong, in a form the caller can `match` on.
///
/// # References
/// - [`errno(3)`](https://man7.org/linux/man-pages/man3/errno.3.html)
///
/// System calls map one `errno` to one kind (the table is in [`ErrorKind::from_errno`]);
/// the library adds kinds of its own for checks it makes before or after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `ENOENT`: no object has that key (or no file has that path).
    NotFound,
    /// `EEXIST`: an object with that key exists and exclusive creation was asked for.
    AlreadyExists,
    /// `EACCES`: the object's permission bits deny the access asked for.
    PermissionDenied,
    /// `EPERM`: the operation needs ownership or a capability the caller lacks.
    NotPermitted,
    /// `EINVAL`: an argument the kernel rejects (a size out of limits, a bad id, an
    /// unaligned address, ...).
    InvalidArgument,
    /// `ENOSPC` or `ENFILE`: a system-wide limit (such as `SHMMNI`, `SHMALL` or the number
    /// of open files) is reached.
    LimitExceeded,
    /// `ENOMEM`: not enough memory (or no huge pages) for the request.
    OutOfMemory,
    /// `EIDRM`: the object was removed.
    Removed,
    /// `EINTR`: a signal interrupted the call.
    Interrupted,
    /// `EAGAIN`: the operation would block and no-wait was asked for.
    WouldBlock,
    /// `EFAULT`: the kernel could not access a buffer.
    BadAddress,
    /// `E2BIG`: too many items, or a message too big for the buffer.
    TooBig,
    /// `ERANGE`: a value outside the range the kernel allows.
    OutOfRange,
    /// `EFBIG`: an index beyond the object's size.
    IndexOutOfRange,
    /// `ENOMSG`: no message of the requested type.
    NoMessage,
    /// `ETIMEDOUT`, or a timed wait whose time ran out (the library maps the `EAGAIN` of
    /// a timed-out `semtimedop` here).
    TimedOut,
    /// The previous owner of a lock died while holding it.
    OwnerDied,
    /// An access to a region reaches past its end.
    OutOfBounds,
    /// An atomic view or address is not aligned as the operation requires.
    Misaligned,
    /// Open-or-create found an existing object it does not trust (see [`Squatting`]).
    Squatting,
    /// A structure in shared memory does not have the expected layout.
    LayoutMismatch,
    /// A structure in shared memory has not been initialised (yet).
    NotInitialised,
    /// The kernel lacks the feature (`ENOSYS`, or a configuration option it was built
    /// without).
    Unsupported,
    /// `EBUSY`, or an object this process still uses (a segment holding one of its locks).
    Busy,
    /// Any other error.
    Other,
    /// `ENOTRECOVERABLE`: a robust lock whose owner died was released without being marked
    /// consistent; it can never be locked again (see
    /// [`MutexGuard::mark_consistent`](crate::sync::MutexGuard::mark_consistent)).
    NotRecoverable,
    /// A seqlock's writer died in the middle of a write: the value is torn until the next
    /// write.
    WriterDied,
    /// A structure in shared memory was created in another pid namespace, where thread ids
    /// (which robust locks record) mean other threads.
    ForeignNamespace,
    /// `EDEADLK`: this thread already holds the lock.
    Deadlock,
    /// The process at the other end of a channel died (`kill(pid, 0)` failed with `ESRCH`)
    /// and everything it committed has been received.
    PeerDied,
    /// A structure in shared memory holds values no correct peer writes (an index out of
    /// range, a length past the end): another process scribbled over it.
    Corrupt,
    /// A channel opened by name found another name's channel under the same key (the two
    /// names' keys collide; see [`channel::named`](crate::channel::named)).
    NameCollision,
}

impl ErrorKind {
    /// The kind a system call's `errno` maps to.
    pub fn from_errno(errno: Errno) -> ErrorKind {
        match errno.raw() {
            libc::ENOENT => ErrorKind::NotFound,
            libc::EEXIST => ErrorKind::AlreadyExists,
            libc::EACCES => ErrorKind::PermissionDenied,
            libc::EPERM => ErrorKind::NotPermitted,
            libc::EINVAL => ErrorKind::InvalidArgument,
            libc::ENOSPC | libc::ENFILE => ErrorKind::LimitExceeded,
            libc::ENOMEM => ErrorKind::OutOfMemory,
            libc::EIDRM => ErrorKind::Removed,
            libc::EINTR => ErrorKind::Interrupted,
            libc::EAGAIN => ErrorKind::WouldBlock,
            libc::EFAULT => ErrorKind::BadAddress,
            libc::E2BIG => ErrorKind::TooBig,
            libc::ERANGE => ErrorKind::OutOfRange,
            libc::EFBIG => ErrorKind::IndexOutOfRange,
            libc::ENOMSG => ErrorKind::NoMessage,
            libc::ETIMEDOUT => ErrorKind::TimedOut,
            libc::EOWNERDEAD => ErrorKind::OwnerDied,
            libc::ENOTRECOVERABLE => ErrorKind::NotRecoverable,
            libc::EDEADLK => ErrorKind::Deadlock,
            libc::ENOSYS => ErrorKind::Unsupported,
            libc::EBUSY => ErrorKind::Busy,
            _ => ErrorKind::Other,
        }
    }

    fn io_kind(self) -> std::io::ErrorKind {
        use std::io::ErrorKind as Io;
        match self {
            ErrorKind::NotFound => Io::NotFound,
            ErrorKind::AlreadyExists | ErrorKind::NameCollision => Io::AlreadyExists,
            ErrorKind::PermissionDenied | ErrorKind::NotPermitted | ErrorKind::Squatting => {
                Io::PermissionDenied
            }
            ErrorKind::InvalidArgument
            | ErrorKind::OutOfBounds
            | ErrorKind::Misaligned
            | ErrorKind::OutOfRange
            | ErrorKind::IndexOutOfRange => Io::InvalidInput,
            ErrorKind::LayoutMismatch
            | ErrorKind::NotInitialised
            | ErrorKind::WriterDied
            | ErrorKind::Corrupt => Io::InvalidData,
            ErrorKind::OutOfMemory => Io::OutOfMemory,
            ErrorKind::Interrupted => Io::Interrupted,
            ErrorKind::WouldBlock => Io::WouldBlock,
            ErrorKind::PeerDied => Io::BrokenPipe,
            ErrorKind::TimedOut => Io::TimedOut,
            ErrorKind::Unsupported => Io::Unsupported,
            _ => Io::Other,
        }
    }
}

/// Why open-or-create refused an existing object (kind [`ErrorKind::Squatting`]).
///
/// Another user can create a well-known key first, with mode `0666`, and then read or
/// change everything the victim writes. Open-or-create therefore refuses an existing object
/// that this user did not make as asked, unless the caller opts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Squatting {
    /// The object's owner or creator is another user.
    OtherOwner {
        /// The object's owner (`shm_perm.uid`).
        uid: u32,
        /// The object's creator (`shm_perm.cuid`).
        cuid: u32,
        /// This process's effective uid.
        euid: u32,
    },
    /// The object grants permissions beyond those asked for.
    WiderMode {
        /// The object's permission bits.
        mode: u32,
        /// The permission bits asked for.
        asked: u32,
    },
    /// The object has another size than the one asked for.
    SizeMismatch {
        /// The object's size.
        size: usize,
        /// The size asked for.
        asked: usize,
    },
}

impl fmt::Display for Squatting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Squatting::OtherOwner { uid, cuid, euid } => write!(
                f,
                "existing object belongs to another user (owner uid {uid}, creator uid {cuid}, we are uid {euid})"
            ),
            Squatting::WiderMode { mode, asked } => write!(
                f,
                "existing object has mode {mode:04o}, wider than the {asked:04o} asked for"
            ),
            Squatting::SizeMismatch { size, asked } => write!(
                f,
                "existing object has {size} bytes, not the {asked} asked for"
            ),
        }
    }
}

/// The crate's error: a [`kind`](Error::kind) to match on, and a message that names the
/// call, the object and the `errno`, e.g.
/// `shmget(key=0x6e77bcfb, size=4096): permission denied (EACCES)`.
///
/// It converts into [`std::io::Error`] (keeping the message).
///
/// # References
/// - [`errno(3)`](https://man7.org/linux/man-pages/man3/errno.3.html)
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    call: &'static str,
    context: String,
    errno: Option<Errno>,
    detail: Detail,
}

#[derive(Clone)]
enum Detail {
    None,
    Message(String),
    Squatting(Squatting),
}

impl Error {
    /// A failed system call: `call` is its name, `context` its arguments as they should
    /// appear in the message (`"key=0x00001234, size=4096"`).
    pub(crate) fn sys(call: &'static str, context: String, errno: Errno) -> Error {
        Error {
            kind: ErrorKind::from_errno(errno),
            call,
            context,
            errno: Some(errno),
            detail: Detail::None,
        }
    }

    /// A failure found by the library itself, not by the kernel.
    pub(crate) fn new(
        kind: ErrorKind,
        call: &'static str,
        context: String,
        message: impl Into<String>,
    ) -> Error {
        Error {
            kind,
            call,
            context,
            errno: None,
            detail: Detail::Message(message.into()),
        }
    }

    /// Overrides the kind (for calls where an errno means something specific, such as the
    /// `EAGAIN` of a timed-out `semtimedop`).
    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.kind = kind;
        self
    }

    /// Replaces the errno's description in the message (keeping kind and errno), for calls
    /// whose errno means something else than it does for IPC objects (`ENOENT` from `stat`
    /// is a missing file, not a missing key).
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Error {
        self.detail = Detail::Message(message.into());
        self
    }

    /// The same error, reported as a step of a higher-level operation: `call(context)`
    /// become the operation's and the step's whole message follows, e.g.
    /// `NamedChannel::open(name="orders", key=0xd62dd5be): shmget(key=0xd62dd5be): ...`.
    /// Kind and errno stay (a squatting reason does not: wrap system-call errors only).
    pub(crate) fn within(self, call: &'static str, context: String) -> Error {
        let step = self.to_string();
        Error {
            call,
            context,
            detail: Detail::Message(step),
            ..self
        }
    }

    /// Open-or-create refused an existing object.
    pub(crate) fn squatting(call: &'static str, context: String, why: Squatting) -> Error {
        Error {
            kind: ErrorKind::Squatting,
            call,
            context,
            errno: None,
            detail: Detail::Squatting(why),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The system call (or library operation) that failed, e.g. `"shmget"`.
    pub fn call(&self) -> &'static str {
        self.call
    }

    /// The `errno` of the failed system call, if the error came from the kernel.
    pub fn errno(&self) -> Option<Errno> {
        self.errno
    }

    /// The raw `errno` value, if the error came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno.map(Errno::raw)
    }

    /// Why open-or-create refused an existing object, for [`ErrorKind::Squatting`].
    pub fn squatting_reason(&self) -> Option<Squatting> {
        match self.detail {
            Detail::Squatting(why) => Some(why),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({}): ", self.call, self.context)?;
        match (&self.detail, self.errno) {
            (Detail::Message(m), _) => f.write_str(m),
            (Detail::Squatting(why), _) => write!(f, "refused: {why}"),
            (Detail::None, Some(errno)) => write!(f, "{errno}"),
            (Detail::None, None) => write!(f, "{:?}", self.kind),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.to_string())
            .finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> std::io::Error {
        std::io::Error::new(err.kind.io_kind(), err)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
