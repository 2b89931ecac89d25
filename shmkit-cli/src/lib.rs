//! `shmkit-cli`: System V IPC from the command line.
//!
//! One program with five faces: invoked as `ipcs`, `ipcrm`, `ipcmk` or `lsipc` (the name it
//! was run by, like busybox) it behaves as util-linux 2.38.1's tool of that name; otherwise
//! it is `shmkit <subcommand>`. The binaries in `src/bin/` only call [`main`].
//!
//! This file holds the command-line definition and the dispatch; the subcommands live in
//! [`cmd`], the tables in [`format`](mod@format). The CLI makes no system calls of its own: it formats
//! what the `shmkit` library returns.
//!
//! Exit status: 0 on success (also when standard output is a closed pipe), 1 when the
//! command failed (the reason on standard error as `shmkit: <message>`), 2 for a usage
//! error. `shmkit demo` exits with 128 + the signal number when interrupted by `SIGINT`,
//! `SIGTERM` or `SIGHUP`.

mod cmd;
mod format;
mod util_linux;

use clap::{Args, Parser, Subcommand};
use shmkit::Key;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// System V shared memory, from the command line.
#[derive(Debug, Parser)]
#[command(name = "shmkit", version, propagate_version = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print the System V key ftok(3) makes of a path and a project id, as 0x%08x.
    Ftok(FtokArgs),
    /// Walk through System V shared memory in two processes, narrating each call.
    ///
    /// The writer (this process) makes a key with ftok, creates a segment, attaches it and
    /// writes a message; a reader process (this program again) opens the segment by key,
    /// attaches it read-only and checks the message; the writer then detaches and removes
    /// the segment. Nothing is left behind, also when interrupted by SIGINT, SIGTERM or
    /// SIGHUP (the exit status is then 128 + the signal number). Exits 0 only if the
    /// message arrived intact and everything was cleaned up.
    Demo(DemoArgs),
}

/// `shmkit ftok PATH PROJ_ID`.
#[derive(Debug, Args)]
struct FtokArgs {
    /// An existing file or directory (its inode and device go into the key).
    path: PathBuf,
    /// The project id: a number (65, 0x41) or one character (A, as in ftok(path, 'A')).
    /// Only its low 8 bits count.
    #[arg(value_parser = cmd::ftok::parse_proj_id, allow_negative_numbers = true)]
    proj_id: i32,
}

/// `shmkit demo`, and the hidden flags with which the demo runs its own reader process.
#[derive(Debug, Args)]
struct DemoArgs {
    /// Run as the demo's reader process (internal).
    #[arg(long, hide = true, requires_all = ["key", "shmid", "message", "first_step"])]
    reader: bool,
    /// The key the writer created the segment with (internal).
    #[arg(long, hide = true, requires = "reader")]
    key: Option<Key>,
    /// The id of the writer's segment, to check that the key leads to it (internal).
    #[arg(long, hide = true, requires = "reader")]
    shmid: Option<i32>,
    /// The message the writer wrote (internal).
    #[arg(long, hide = true, requires = "reader", allow_hyphen_values = true)]
    message: Option<String>,
    /// The number of the reader's first step in the narration (internal).
    #[arg(long, hide = true, requires = "reader")]
    first_step: Option<u32>,
}

impl DemoArgs {
    /// The resolved mode: clap's `requires` rules guarantee that the reader has every value.
    fn mode(self) -> cmd::demo::Mode {
        match (self.key, self.shmid, self.message, self.first_step) {
            (Some(key), Some(shmid), Some(message), Some(first_step)) if self.reader => {
                cmd::demo::Mode::Reader(cmd::demo::ReaderArgs {
                    key,
                    shmid: shmkit::ShmId::from_raw(shmid),
                    message,
                    first_step,
                })
            }
            _ => cmd::demo::Mode::Writer,
        }
    }
}

/// The entry point of every binary: dispatches on the name the program was invoked by.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv0 = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = argv0.rsplit('/').next().unwrap_or(&argv0).to_owned();
    if let Some(code) = util_linux::dispatch(&name, &argv0, &args) {
        return code;
    }
    shmkit_main()
}

/// `shmkit <subcommand>`.
fn shmkit_main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout, usage errors to stderr; a closed pipe is fine.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let mut out = cmd::Out::new();
    let result = match cli.command {
        Command::Ftok(args) => cmd::ftok::run(&mut out, &args.path, args.proj_id),
        Command::Demo(args) => cmd::demo::run(&mut out, args.mode()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "shmkit: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
