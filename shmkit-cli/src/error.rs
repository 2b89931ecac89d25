//! The error of the `shmkit` subcommands and of the object model they share: what failed,
//! printed by `main` as `shmkit: <message>` with exit status 1.

use std::fmt;
use std::io;

/// Why a subcommand failed. `main` prints it as `shmkit: <message>` and exits with 1.
#[derive(Debug)]
pub(crate) enum Error {
    /// The library's error, whose message already names the call and the object.
    Shm(shmkit::Error),
    /// A failed system call of `shmkit_os` (CPU pinning, futexes, pipes, eventfds), printed
    /// as the library prints its own: `call(arguments): description (ENAME)`.
    Os(shmkit_os::Error),
    /// An I/O error, with what was being done.
    Io {
        /// What failed, e.g. `create_dir(/tmp/x)`.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// A failure the command found itself.
    Message(String),
    /// The command failed and has already printed why (one `shmkit: ` line per failure,
    /// as `rm` does when some of several removals fail): `main` only sets the exit status.
    Reported,
}

impl Error {
    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether this is a write to a closed pipe: the reader went away, which is not an error.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shm(e) => write!(f, "{e}"),
            Error::Os(e) => write!(
                f,
                "{}({}): {}",
                e.call(),
                e.context(),
                shmkit::Errno::from_raw(e.raw_os_error())
            ),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Message(m) => f.write_str(m),
            Error::Reported => f.write_str("failed (reported above)"),
        }
    }
}

impl std::error::Error for Error {}

impl From<shmkit::Error> for Error {
    fn from(e: shmkit::Error) -> Error {
        Error::Shm(e)
    }
}

impl From<shmkit_os::Error> for Error {
    fn from(e: shmkit_os::Error) -> Error {
        Error::Os(e)
    }
}

/// `Result` with the CLI's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::Error;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    /// `shmkit_os` errors print exactly as `shmkit::os` errors (the library's `Error`) did:
    /// `call(arguments): description (ENAME)`, the errno worded by `shmkit::Errno`.
    #[test]
    fn os_errors_print_as_the_library_printed_them() {
        let pin = shmkit_os::pin_to_cpu(usize::MAX).unwrap_err();
        assert_eq!(
            Error::from(pin).to_string(),
            format!(
                "sched_setaffinity(cpu={}): invalid argument (EINVAL)",
                usize::MAX
            )
        );
        let word = AtomicU32::new(7);
        let wait = shmkit_os::futex_wait(&word, 7, Some(Duration::from_millis(1))).unwrap_err();
        assert_eq!(
            Error::from(wait).to_string(),
            "futex(FUTEX_WAIT, expected=7, timeout=Some(1ms)): timed out (ETIMEDOUT)"
        );
        let (r, w) = shmkit_os::pipe().unwrap();
        drop(w);
        let read = shmkit_os::EventFd::from(r).read().unwrap_err();
        assert_eq!(
            Error::from(read).to_string(),
            "read(eventfd): invalid argument (EINVAL)"
        );
    }
}
