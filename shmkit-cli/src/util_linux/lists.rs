//! The lists `ipcs` and `lsipc` show, as util-linux reads them: `/proc/sysvipc/*` first
//! (through `shmkit::info::*_from_proc`), the `*_INFO`/`*_STAT` syscalls when the file is
//! unreadable, with util-linux's quirks of that fallback.

use shmkit::{info, MsgStat, SegmentStat, SemStat};

/// Every segment, in `/proc/sysvipc/shm` order; from the syscalls (with the creator group
/// shown as the creator user, as util-linux's fallback does) when the file is unreadable.
pub(crate) fn segments() -> Vec<SegmentStat> {
    match info::segments_from_proc() {
        Ok(Some(rows)) => rows,
        // A malformed file: C skips the lines it cannot parse; nothing sensible is left.
        Err(_) => Vec::new(),
        Ok(None) => info::readable_segments_from_syscalls()
            .map(|rows| {
                rows.into_iter()
                    .map(|mut s| {
                        s.cgid = s.cuid;
                        s
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Every message queue, and whether the list came from `/proc` (where util-linux fetches
/// `msg_qbytes` only for a positive `-i`; lsipc ignores it).
pub(crate) fn queues() -> (Vec<MsgStat>, bool) {
    match info::message_queues_from_proc() {
        Ok(Some(rows)) => (rows, true),
        Err(_) => (Vec::new(), true),
        Ok(None) => (
            info::readable_message_queues_from_syscalls().unwrap_or_default(),
            false,
        ),
    }
}

/// Every semaphore set; in the fallback, the creator group is the creator user.
pub(crate) fn semaphore_sets() -> Vec<SemStat> {
    match info::semaphore_sets_from_proc() {
        Ok(Some(rows)) => rows,
        Err(_) => Vec::new(),
        Ok(None) => info::readable_semaphore_sets_from_syscalls()
            .map(|rows| {
                rows.into_iter()
                    .map(|mut s| {
                        s.cgid = s.cuid;
                        s
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
