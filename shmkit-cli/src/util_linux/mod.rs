//! The util-linux personalities: `ipcs`, `ipcrm`, `ipcmk` and `lsipc`, matching
//! util-linux 2.38.1 byte for byte (stdout, stderr, exit status), as specified in the
//! project's `shared/docs/util-linux.md`. All data comes from the `shmkit` library; these
//! modules only parse arguments and format.

#[allow(dead_code)] // the personalities use these as they are written
pub(crate) mod common;
pub(crate) mod getopt;
mod ipcmk;
mod ipcrm;
mod ipcs;
mod lists;
mod lsipc;

use std::ffi::OsString;
use std::process::ExitCode;

/// Runs the personality `name`, if it is one; `None` for any other name.
pub(crate) fn dispatch(name: &str, argv0: &str, args: &[OsString]) -> Option<ExitCode> {
    let body: fn(&mut common::Tool, Vec<String>) -> common::Flow = match name {
        "ipcs" => ipcs::main,
        "ipcrm" => ipcrm::main,
        "ipcmk" => ipcmk::main,
        "lsipc" => lsipc::main,
        _ => return None,
    };
    Some(common::run(name, argv0, args, body))
}
