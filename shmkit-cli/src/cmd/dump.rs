//! `shmkit dump ID`: a segment's bytes as `hexdump -C` shows them (the format is in
//! [`HexDump`]), byte for byte the same as `shmkit cat ID | hexdump -C`.

use super::cat::CHUNK;
use super::{Out, Result};
use crate::format::HexDump;
use crate::objects;

/// Prints segment `id` in `hexdump -C` format; stops early, successfully, at a closed
/// pipe.
///
/// # Errors
/// No such segment; no read permission; write errors.
pub(crate) fn run(out: &mut Out, id: i32) -> Result<()> {
    let segment = objects::segment(id)?;
    let map = segment.attach_read_only()?;
    let mut buf = vec![0u8; CHUNK.min(map.len())];
    let mut dump = HexDump::new();
    let mut text = String::new();
    let mut offset = 0;
    while offset < map.len() && !out.is_closed() {
        let n = buf.len().min(map.len() - offset);
        map.read_at(offset, &mut buf[..n])?;
        text.clear();
        dump.feed(&buf[..n], &mut text);
        out.bytes(text.as_bytes())?;
        offset += n;
    }
    text.clear();
    dump.finish(&mut text);
    out.bytes(text.as_bytes())
}
