//! The lists `ipcs` and `lsipc` show, as util-linux reads them: `/proc/sysvipc/*` first
//! (through `shmkit::info::*_from_proc`), the `*_INFO`/`*_STAT` syscalls when the file is
//! unreadable, with util-linux's quirks of that fallback.

use shmkit::{info, MsgStat, SegmentStat, SemStat};

/// Every segment, in `/proc/sysvipc/shm` order; from the syscalls (with the creator group
/// shown as the creator user, as util-linux's fallback does) when the file is unreadable.
pub(crate) fn segments() -> Vec<SegmentStat> {
    let fallback = info::readable_segments_from_syscalls;
    list(info::segments_from_proc(), fallback, |s| s.cgid = s.cuid).0
}

/// Every message queue, and whether the list came from `/proc` (where util-linux fetches
/// `msg_qbytes` only for a positive `-i`; lsipc ignores it).
pub(crate) fn queues() -> (Vec<MsgStat>, bool) {
    let fallback = info::readable_message_queues_from_syscalls;
    list(info::message_queues_from_proc(), fallback, |_| {})
}

/// Every semaphore set; in the fallback, the creator group is the creator user.
pub(crate) fn semaphore_sets() -> Vec<SemStat> {
    let fallback = info::readable_semaphore_sets_from_syscalls;
    list(info::semaphore_sets_from_proc(), fallback, |s| {
        s.cgid = s.cuid
    })
    .0
}

/// The rows `from_proc` read, or when the file could not be read those of `fallback`, each
/// passed through `quirk`; and whether the rows came from `/proc`. A malformed file gives
/// nothing (C skips the lines it cannot parse; nothing sensible is left), a failed fallback
/// too.
fn list<T>(
    from_proc: shmkit::Result<Option<Vec<T>>>,
    fallback: impl FnOnce() -> shmkit::Result<Vec<T>>,
    quirk: impl FnMut(&mut T),
) -> (Vec<T>, bool) {
    match from_proc {
        Ok(Some(rows)) => (rows, true),
        Err(_) => (Vec::new(), true),
        Ok(None) => {
            let mut rows = fallback().unwrap_or_default();
            rows.iter_mut().for_each(quirk);
            (rows, false)
        }
    }
}
