//! `shmkit write ID [--offset N]`: standard input into a segment.
//!
//! All of standard input is read first (at most one byte more than fits), so that input
//! that would reach past the end of the segment is refused before anything is written:
//! the segment is changed completely or not at all. The segment is attached read-write
//! and written with the library's bounds-checked copies.
//!
//! Prints nothing; with `--json`
//! `{"kind": "shm", "id", "key", "key_raw", "size", "offset", "written"}`.

use super::{Error, Out, Result};
use crate::format;
use crate::objects;
use std::io::{self, Read};

/// Writes standard input into segment `id` at `offset`.
///
/// # Errors
/// No such segment; no permission to attach it read-write; an offset past the end, or
/// more input than fits between the offset and the end (nothing is written then); read
/// errors.
pub(crate) fn run(out: &mut Out, id: i32, offset: usize, json: bool) -> Result<()> {
    let segment = objects::segment(id)?;
    let map = segment.attach()?;
    let size = map.len();
    let Some(room) = size.checked_sub(offset) else {
        return Err(Error::Message(format!(
            "offset {offset} is past the end of shared-memory segment {id} ({size} bytes)"
        )));
    };
    let mut data = Vec::new();
    io::stdin()
        .lock()
        .take(room as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io("read standard input", e))?;
    if data.len() > room {
        return Err(Error::Message(format!(
            "the input does not fit: more than the {room} bytes from offset {offset} to the \
             end of shared-memory segment {id} ({size} bytes); nothing written"
        )));
    }
    map.write_at(offset, &data)?;
    if !json {
        return Ok(());
    }
    let mut map_json = format::reference_json("shm", id, segment.key());
    map_json.insert("size".into(), size.into());
    map_json.insert("offset".into(), offset.into());
    map_json.insert("written".into(), data.len().into());
    out.json(&serde_json::Value::Object(map_json), false)
}
