//! Formatting what the library returns: the `ipcs -m`-style segment table.

use shmkit::SegmentStat;

/// The header of the segment table, as `ipcs -m` prints it.
pub(crate) const SEGMENT_HEADER: &str =
    "key        shmid      owner      perms      bytes      nattch     status";

/// One segment as a row under [`SEGMENT_HEADER`], with the columns of `ipcs -m`
/// (`%-10s %-10d %-10s %-10o %-10lu %-10ld %-6s`): key, id, owner (the user's name, or the uid
/// when no user has it), permission bits in octal, size in bytes, attachments, and status
/// (`dest` and/or `locked`).
pub(crate) fn segment_row(stat: &SegmentStat) -> String {
    format!(
        "{:<10} {:<10} {:<10} {:<10o} {:<10} {:<10} {:<6}",
        stat.key.to_string(),
        stat.id.raw(),
        owner(stat.uid),
        stat.mode,
        stat.size,
        stat.nattch,
        status(stat),
    )
}

/// The owner's login name, or the uid as a number when no user has it.
pub(crate) fn owner(uid: u32) -> String {
    shmkit::info::user_name(uid).unwrap_or_else(|| uid.to_string())
}

/// The status column: `dest` (removed, waiting for the last detach), `locked` (`SHM_LOCK`),
/// both, or nothing.
fn status(stat: &SegmentStat) -> &'static str {
    match (stat.dest, stat.locked) {
        (true, true) => "dest locked",
        (true, false) => "dest",
        (false, true) => "locked",
        (false, false) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shmkit::{Key, Segment};

    #[test]
    fn row_columns_line_up_with_the_header() {
        let segment = Segment::builder(Key::PRIVATE)
            .size(4096)
            .mode(0o640)
            .create()
            .unwrap()
            .remove_on_drop();
        let stat = segment.stat().unwrap();
        let row = segment_row(&stat);
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields[0], "0x00000000");
        assert_eq!(fields[1], segment.id().raw().to_string());
        assert_eq!(fields[2], owner(stat.uid));
        assert_eq!(fields[3], "640");
        assert_eq!(fields[4], "4096");
        assert_eq!(fields[5], "0");
        assert_eq!(fields.len(), 6, "no status: {row:?}");
        // Every column starts where its header does (for values up to 10 characters).
        for name in ["shmid", "perms", "bytes", "nattch", "status"] {
            let at = SEGMENT_HEADER.find(name).unwrap();
            assert!(
                at == 0 || row.as_bytes()[at - 1] == b' ',
                "{name} in {row:?}"
            );
        }
        assert_eq!(row.len(), SEGMENT_HEADER.len(), "{row:?}");
    }

    #[test]
    fn status_names_dest_and_locked() {
        let segment = Segment::builder(Key::PRIVATE)
            .size(1)
            .create()
            .unwrap()
            .remove_on_drop();
        let map = segment.attach().unwrap();
        segment.remove().unwrap();
        let stat = segment.stat().unwrap();
        assert!(segment_row(&stat).trim_end().ends_with(" dest"));
        drop(map);
    }
}
