//! The util-linux personalities: `ipcs`, `ipcrm`, `ipcmk` and `lsipc`, matching
//! util-linux 2.38.1 byte for byte (stdout, stderr, exit status).

use std::ffi::OsString;
use std::process::ExitCode;

/// Runs the personality `name`, if it is one; `None` for any other name.
pub(crate) fn dispatch(name: &str, argv0: &str, args: &[OsString]) -> Option<ExitCode> {
    let _ = (name, argv0, args);
    None
}
