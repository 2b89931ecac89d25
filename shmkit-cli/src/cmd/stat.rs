//! `shmkit stat`: everything about one object, found by id (of the kind given, a segment
//! by default) or by key.
//!
//! Text: `name  value` lines named as in the JSON, with user and group names, local times
//! and whether each pid's process still runs; for a set, a table of its semaphores.
//! JSON: the object as one element of `ls --json` shows it.

use super::{Out, Result};
use crate::format;
use crate::objects::{self, Kind, Kinds, Processes};
use shmkit::Key;

/// How `stat` names its object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// By id, of this kind.
    Id(Kind, i32),
    /// By key, among these kinds.
    Key(Kinds, Key),
}

/// Prints everything about the object `target` names.
///
/// # Errors
/// No such object; a key that names objects of several kinds (the message says to pick
/// one with `--shm`, `--sem` or `--msg`); the library's errors; write errors.
pub(crate) fn run(out: &mut Out, target: Target, json: bool) -> Result<()> {
    let procs = Processes::new();
    let object = match target {
        Target::Id(kind, id) => objects::by_id(kind, id, &procs)?,
        Target::Key(kinds, key) => {
            objects::one_by_key(kinds, key, &procs, "pick one with --shm, --sem or --msg")?
        }
    };
    if json {
        return out.json(&format::object_json(&object), false);
    }
    for line in format::stat_lines(&object, &procs) {
        out.line(line)?;
    }
    Ok(())
}
