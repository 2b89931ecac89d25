//! The `shmkit` subcommands, one file each, and what they share: the error type and the
//! printer that treats a closed pipe as the reader's choice rather than an error.

pub(crate) mod demo;
pub(crate) mod ftok;

use std::fmt;
use std::io::{self, Write};

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

/// Standard output, line by line. A closed pipe (`EPIPE`, e.g. `shmkit demo | head -3`)
/// silences the rest of the output instead of failing: the command still runs to its end
/// (the demo still cleans up) and its exit status still reports how that went.
#[derive(Debug, Default)]
pub(crate) struct Out {
    closed: bool,
}

impl Out {
    /// A printer to standard output.
    pub(crate) fn new() -> Out {
        Out::default()
    }

    /// Writes `line` and a newline.
    ///
    /// # Errors
    /// Write errors other than a closed pipe (a full disk, say).
    pub(crate) fn line(&mut self, line: impl fmt::Display) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        match writeln!(io::stdout().lock(), "{line}") {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(Error::io("write to standard output", e)),
            Ok(()) => Ok(()),
        }
    }
}
