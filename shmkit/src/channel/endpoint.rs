//! An endpoint's pid slot in a channel: claiming it, releasing it, and telling whether the
//! process recorded in it is dead ([`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html)
//! with signal 0).

use crate::error::{Error, ErrorKind, Result};
use std::sync::atomic::{AtomicU32, Ordering};

/// The context of a channel error: where the channel is in its region.
pub(crate) fn context(offset: usize) -> String {
    format!("offset={offset}")
}

/// A [`ErrorKind::Corrupt`] error of the channel at `offset`.
pub(crate) fn corrupt(call: &'static str, offset: usize, message: String) -> Error {
    Error::new(ErrorKind::Corrupt, call, context(offset), message)
}

/// The pure atomic steps of an endpoint's pid slot, generic over the word (the segment's
/// word in shipped code, a loom atomic in the loom models, through `shmkit::__loom`).
pub(crate) mod steps {
    #![cfg_attr(not(loom), allow(unreachable_pub))]
    use crate::primitive::Word;
    use std::sync::atomic::Ordering;

    /// Why [`claim`] did not take the slot.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Refused {
        /// Held by this live pid.
        Held(u32),
        /// The slot changed under every one of its attempts.
        Changing,
    }

    /// Takes the pid slot for `me`: free (0) or held by a process that `gone` says no
    /// longer exists (never asked about `me`). At most 64 compare-and-swaps.
    #[inline]
    pub fn claim<W: Word<Int = u32>>(
        slot: &W,
        me: u32,
        gone: impl Fn(u32) -> bool,
    ) -> Result<(), Refused> {
        for _ in 0..64 {
            // Acquire: pairs with the previous holder's Release when it let go, so we see
            // its last index store.
            let cur = slot.load(Ordering::Acquire);
            let free = cur == 0 || (cur != me && gone(cur));
            if !free {
                return Err(Refused::Held(cur));
            }
            // AcqRel: exactly one claimer wins the slot; see above for Acquire.
            if slot
                .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(());
            }
        }
        Err(Refused::Changing)
    }

    /// Frees the pid slot if it still holds `pid`.
    #[inline]
    pub fn release<W: Word<Int = u32>>(slot: &W, pid: u32) {
        // Release: pairs with the next claimer's Acquire load; our index stores are
        // visible.
        let _ = slot.compare_exchange(pid, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// Takes an endpoint's pid slot: free (0) or held by a process that no longer exists
/// ([`steps::claim`] with `kill(pid, 0)`).
pub(crate) fn claim(
    slot: &AtomicU32,
    what: &str,
    call: &'static str,
    offset: usize,
) -> Result<u32> {
    let me = std::process::id();
    let gone = |pid: u32| crate::sys::process::process_exists(pid as i32) == Some(false);
    match steps::claim(slot, me, gone) {
        Ok(()) => Ok(me),
        Err(steps::Refused::Held(cur)) => Err(Error::new(
            ErrorKind::Busy,
            call,
            context(offset),
            format!("the channel's {what} is pid {cur}, which is alive"),
        )),
        Err(steps::Refused::Changing) => Err(Error::new(
            ErrorKind::Busy,
            call,
            context(offset),
            format!("the channel's {what} slot keeps changing"),
        )),
    }
}

/// Whether the endpoint in `slot` is dead: `Some(pid)` when a pid is recorded and
/// `kill(pid, 0)` says it does not exist.
pub(crate) fn dead_peer(slot: &AtomicU32) -> Option<u32> {
    let pid = slot.load(Ordering::Relaxed);
    if pid != 0 && crate::sys::process::process_exists(pid as i32) == Some(false) {
        Some(pid)
    } else {
        None
    }
}

/// Whether the endpoint in `slot` is alive: `None` when none is attached (pid 0), else
/// whether its process exists.
pub(crate) fn peer_alive(slot: &AtomicU32) -> Option<bool> {
    match slot.load(Ordering::Relaxed) {
        0 => None,
        pid => crate::sys::process::process_exists(pid as i32),
    }
}

pub(crate) use steps::release;
