//! `shmkit ls`: every System V IPC object of the kinds asked for, with whether it is stale
//! (see [`objects`] for the rules).
//!
//! Text: one table per kind under the title `ipcs` gives it, a blank line between tables.
//! JSON: `{"shm": [...], "sem": [...], "msg": [...]}` with only the kinds asked for, each
//! element what `stat --json` prints for that object.

use super::{Out, Result};
use crate::format;
use crate::objects::{self, Kinds, Object, Processes};
use serde_json::{Map, Value};

/// Lists the objects of `kinds`.
///
/// # Errors
/// The library's listing errors; write errors.
pub(crate) fn run(out: &mut Out, kinds: Kinds, json: bool) -> Result<()> {
    let procs = Processes::new();
    let objects = objects::list(kinds, &procs)?;
    if json {
        out.json(&to_json(kinds, &objects), false)
    } else {
        for line in text_lines(kinds, &objects) {
            out.line(line)?;
        }
        Ok(())
    }
}

/// The text listing: per kind its title and table, a blank line between kinds.
pub(crate) fn text_lines(kinds: Kinds, objects: &[Object]) -> Vec<String> {
    let mut lines = Vec::new();
    for kind in kinds.iter() {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.push(format::section_title(kind).to_owned());
        lines.extend(format::ls_table(kind, objects).lines());
    }
    lines
}

/// The JSON listing: an array per kind asked for, under the kind's short name.
pub(crate) fn to_json(kinds: Kinds, objects: &[Object]) -> Value {
    let mut map = Map::new();
    for kind in kinds.iter() {
        let items: Vec<Value> = objects
            .iter()
            .filter(|o| o.kind() == kind)
            .map(format::object_json)
            .collect();
        map.insert(kind.name().to_owned(), Value::Array(items));
    }
    Value::Object(map)
}
