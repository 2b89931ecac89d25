//! The `shmkit` subcommands, one file each, and what they share: the error type (from
//! [`crate::error`]) and the printer that treats a closed pipe as the reader's choice rather
//! than an error. The system's objects with their staleness are [`crate::objects`], the
//! tables, times and JSON [`crate::format`].

pub(crate) mod bench;
pub(crate) mod cat;
pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod dump;
pub(crate) mod ftok;
pub(crate) mod limits;
pub(crate) mod ls;
pub(crate) mod man;
pub(crate) mod mk;
pub(crate) mod rm;
pub(crate) mod stat;
pub(crate) mod watch;
pub(crate) mod write;

pub(crate) use crate::error::{Error, Result};
use std::fmt;
use std::io::{self, Write};

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
        let result = writeln!(io::stdout().lock(), "{line}");
        self.outcome(result)
    }

    /// Writes `bytes` as they are (no newline added) and flushes them: raw segment
    /// contents, generated completions, a screen with its escape sequences.
    ///
    /// # Errors
    /// Write errors other than a closed pipe.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        let result = stdout.write_all(bytes).and_then(|()| stdout.flush());
        self.outcome(result)
    }

    /// Writes a JSON document: indented, or on one line when `compact` (JSON Lines, one
    /// document per line, as `watch --json` prints).
    ///
    /// # Errors
    /// Write errors other than a closed pipe.
    pub(crate) fn json(&mut self, value: &serde_json::Value, compact: bool) -> Result<()> {
        if compact {
            self.line(value)
        } else {
            self.line(format_args!("{value:#}"))
        }
    }

    /// Whether standard output turned out to be a closed pipe: there is no point in going
    /// on producing output (`cat` and `watch` stop then).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Maps a write's outcome: a closed pipe closes this printer and is not an error.
    fn outcome(&mut self, result: io::Result<()>) -> Result<()> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(Error::io("write to standard output", e)),
            Ok(()) => Ok(()),
        }
    }
}
