//! The error of the `shmkit` subcommands and of the object model they share: what failed,
//! printed by `main` as `shmkit: <message>` with exit status 1.

use std::fmt;
use std::io;

/// Why a subcommand failed. `main` prints it as `shmkit: <message>` and exits with 1.
#[derive(Debug)]
pub(crate) enum Error {
    /// The library's error, whose message already names the call and the object.
    Shm(shmkit::Error),
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

/// `Result` with the CLI's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
