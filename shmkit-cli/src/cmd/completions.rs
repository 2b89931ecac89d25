//! `shmkit completions SHELL`: a completion script for bash, zsh, fish, elvish or
//! PowerShell, generated from the command-line definition it is given (`clap_complete`), so
//! it always knows every subcommand and flag.
//!
//! Install, for example, with
//! `shmkit completions bash > /usr/share/bash-completion/completions/shmkit`.

use super::{Out, Result};
use clap_complete::Shell;

/// Prints the completion script of `command` (the definition of `shmkit`) for `shell`.
///
/// # Errors
/// Write errors other than a closed pipe.
pub(crate) fn run(out: &mut Out, shell: Shell, mut command: clap::Command) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "shmkit", &mut script);
    out.bytes(&script)
}
