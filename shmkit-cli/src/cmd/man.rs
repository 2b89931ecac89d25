//! `shmkit man [SUBCOMMAND]`: the manual page, in roff, generated from the command-line
//! definition it is given (`clap_mangen`): `shmkit(1)`, or `shmkit-<subcommand>(1)` for one
//! subcommand.
//!
//! Read it with `shmkit man | man -l -`; install it with
//! `shmkit man > /usr/share/man/man1/shmkit.1`.

use super::{Error, Out, Result};

/// Prints the manual page of `command` (the definition of `shmkit`), or of one of its
/// subcommands.
///
/// # Errors
/// An unknown subcommand; write errors other than a closed pipe.
pub(crate) fn run(
    out: &mut Out,
    subcommand: Option<&str>,
    mut command: clap::Command,
) -> Result<()> {
    command.build();
    let page = match subcommand {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let names: Vec<&str> = command
                    .get_subcommands()
                    .filter(|s| !s.is_hide_set())
                    .map(|s| s.get_name())
                    .collect();
                return Err(Error::Message(format!(
                    "no subcommand {name:?}; the subcommands are {}",
                    names.join(", ")
                )));
            };
            // Built, the subcommand's display name is `shmkit-<name>`: the page's title.
            sub.clone()
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| Error::io("render the manual page", e))?;
    out.bytes(&roff)
}
