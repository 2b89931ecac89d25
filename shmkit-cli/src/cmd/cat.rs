//! `shmkit cat ID`: a segment's bytes, raw, to standard output.
//!
//! The segment is attached read-only and copied out in chunks with the library's
//! bounds-checked, tear-tolerant copies: another process writing meanwhile can make the
//! output mix old and new bytes, never make it read outside the segment.

use super::{Out, Result};
use crate::objects;

/// How many bytes are copied out of the segment at a time.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Copies segment `id` to standard output; stops early, successfully, at a closed pipe.
///
/// # Errors
/// No such segment; no read permission; write errors.
pub(crate) fn run(out: &mut Out, id: i32) -> Result<()> {
    let segment = objects::segment(id)?;
    let map = segment.attach_read_only()?;
    let mut buf = vec![0u8; CHUNK.min(map.len())];
    let mut offset = 0;
    while offset < map.len() && !out.is_closed() {
        let n = buf.len().min(map.len() - offset);
        map.read_at(offset, &mut buf[..n])?;
        out.bytes(&buf[..n])?;
        offset += n;
    }
    Ok(())
}
