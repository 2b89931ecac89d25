//! `shmkit-cli`: System V IPC from the command line.
//!
//! One program with five faces: invoked as `ipcs`, `ipcrm`, `ipcmk` or `lsipc` (the name it
//! was run by, like busybox) it behaves as util-linux 2.38.1's tool of that name; otherwise
//! it is `shmkit <subcommand>`. The binaries in `src/bin/` only call [`main`].
//!
//! This file holds the dispatch. Imports point down only:
//!
//! ```text
//! main.rs, bin/*.rs      call main()
//! lib.rs                 dispatch on the invoked name, then on the subcommand
//!   cli                  the clap definition of `shmkit <subcommand>`
//!   util_linux/*, cmd/*  the personalities: ipcs ipcrm ipcmk lsipc, and the subcommands
//!   format               tables, sizes, times, JSON of the subcommands
//!   objects, error       the objects the subcommands work on, with their staleness; the error
//!   names                user and group names of ids (shared by every personality)
//! shmkit                 the library
//! ```
//!
//! The CLI makes no system calls of its own: it formats what the `shmkit` library returns.
//!
//! Exit status: 0 on success (also when standard output is a closed pipe), 1 when the
//! command failed (the reason on standard error as `shmkit: <message>`), 2 for a usage
//! error (an unknown flag, a missing argument, or a value that does not parse: a bad key,
//! id, size or mode). `shmkit demo` and `shmkit bench` exit with 128 + the signal number
//! when interrupted by `SIGINT`, `SIGTERM` or `SIGHUP`; `shmkit watch` with 0 on `q` or
//! Ctrl-C and with 128 + the signal number on `SIGTERM` or `SIGHUP`.
//!
//! Every subcommand that prints something about objects takes `--json`. The JSON uses the
//! field names of the library's stat structs (`shmkit::SegmentStat`, `SemStat`, `MsgStat`,
//! `shmkit::info::*Limits`, `*Usage`) in snake case; a key appears as `"key": "0x%08x"`
//! and `"key_raw"` (the signed `key_t`), times as integer seconds since the epoch (0 for
//! never). Each subcommand's module documents its document.

mod cli;
mod cmd;
mod error;
mod format;
mod names;
mod objects;
mod util_linux;

use clap::Parser;
use cli::{Cli, Command};
use error::Error;
use std::io::{self, Write};
use std::process::ExitCode;

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
        Command::Ls(args) => cmd::ls::run(&mut out, args.kinds.kinds(), args.json),
        Command::Stat(args) => cmd::stat::run(&mut out, args.target(), args.json),
        Command::Ftok(args) => cmd::ftok::run(&mut out, &args.path, args.proj_id, args.json),
        Command::Mk(args) => cmd::mk::run(
            &mut out,
            cmd::mk::Request {
                shm: args.shm,
                sem: args.sem,
                msg: args.msg,
                mode: args.mode,
                key: args.key,
            },
            args.json,
        ),
        Command::Rm(args) => {
            let json = args.json;
            cmd::rm::run(&mut out, &args.request(), json)
        }
        Command::Cat(args) => cmd::cat::run(&mut out, args.id),
        Command::Dump(args) => cmd::dump::run(&mut out, args.id),
        Command::Write(args) => cmd::write::run(&mut out, args.id, args.offset, args.json),
        Command::Limits(args) => cmd::limits::run(&mut out, args.kinds.kinds(), args.json),
        Command::Watch(args) => cmd::watch::run(
            &mut out,
            cmd::watch::Options {
                kinds: args.kinds.kinds(),
                interval: args.interval,
                count: args.count,
                json: args.json,
            },
        ),
        Command::Completions(args) => cmd::completions::run(&mut out, args.shell, cli::command()),
        Command::Man(args) => cmd::man::run(&mut out, args.subcommand.as_deref(), cli::command()),
        Command::Demo(args) => cmd::demo::run(&mut out, args.mode()),
        Command::Bench(args) => cmd::bench::run(&mut out, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(Error::Reported) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(io::stderr(), "shmkit: {e}");
            ExitCode::FAILURE
        }
    }
}
