//! The one error type: a failed system call, with its arguments.

use crate::sys::Errno;
use std::fmt;
use std::io;

/// A system call that failed: which call (`"sched_setaffinity"`), with which arguments
/// (`"cpu=7"`), and the `errno` the kernel returned.
///
/// [`kind`](Error::kind) classifies it as [`std::io::ErrorKind`] does
/// (`ETIMEDOUT` → [`TimedOut`](io::ErrorKind::TimedOut), `EINVAL` →
/// [`InvalidInput`](io::ErrorKind::InvalidInput), ...), and it converts into
/// [`std::io::Error`]. A caller that wants its own wording of the errno takes
/// [`raw_os_error`](Error::raw_os_error), [`call`](Error::call) and
/// [`context`](Error::context).
///
/// # References
/// - [`errno(3)`](https://man7.org/linux/man-pages/man3/errno.3.html)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    call: &'static str,
    context: String,
    errno: i32,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `call(context)` failed with `errno`.
    pub(crate) fn sys(call: &'static str, context: String, errno: Errno) -> Error {
        Error {
            call,
            context,
            errno: errno.raw(),
        }
    }

    /// The system call that failed, e.g. `"futex"`.
    pub fn call(&self) -> &'static str {
        self.call
    }

    /// Its arguments, as the message shows them, e.g. `"FUTEX_WAKE, count=1"`.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The raw `errno` value, e.g. `libc::EINVAL`.
    pub fn raw_os_error(&self) -> i32 {
        self.errno
    }

    /// The errno's class, as [`std::io::Error::kind`] gives it for the same errno.
    pub fn kind(&self) -> io::ErrorKind {
        io::Error::from_raw_os_error(self.errno).kind()
    }
}

impl fmt::Display for Error {
    /// `call(context): ` and the C library's description of the errno, e.g.
    /// `sched_setaffinity(cpu=4096): Invalid argument (os error 22)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({}): {}",
            self.call,
            self.context,
            io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// An [`io::Error`] of the same kind whose message is this error's.
    fn from(err: Error) -> io::Error {
        io::Error::new(err.kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_the_call_its_arguments_and_the_errno() {
        let e = Error::sys(
            "futex",
            "FUTEX_WAKE, count=1".to_owned(),
            Errno::from_raw(libc::EINVAL),
        );
        assert_eq!(e.call(), "futex");
        assert_eq!(e.context(), "FUTEX_WAKE, count=1");
        assert_eq!(e.raw_os_error(), libc::EINVAL);
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let text = e.to_string();
        assert!(text.starts_with("futex(FUTEX_WAKE, count=1): "), "{text}");
        assert!(
            text.ends_with(&format!("(os error {})", libc::EINVAL)),
            "{text}"
        );
        let io = io::Error::from(e.clone());
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(io.to_string(), text);
        let timed_out = Error::sys("futex", String::new(), Errno::from_raw(libc::ETIMEDOUT));
        assert_eq!(timed_out.kind(), io::ErrorKind::TimedOut);
    }
}
