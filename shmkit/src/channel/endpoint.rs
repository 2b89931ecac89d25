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

/// Takes an endpoint's pid slot: free (0) or held by a process that no longer exists.
pub(crate) fn claim(
    slot: &AtomicU32,
    what: &str,
    call: &'static str,
    offset: usize,
) -> Result<u32> {
    let me = std::process::id();
    for _ in 0..64 {
        // Acquire: pairs with the previous holder's Release when it let go, so we see its
        // last index store.
        let cur = slot.load(Ordering::Acquire);
        let free = cur == 0
            || (cur != me && crate::sys::process::process_exists(cur as i32) == Some(false));
        if !free {
            return Err(Error::new(
                ErrorKind::Busy,
                call,
                context(offset),
                format!("the channel's {what} is pid {cur}, which is alive"),
            ));
        }
        // AcqRel: exactly one claimer wins the slot; see above for Acquire.
        if slot
            .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(me);
        }
    }
    Err(Error::new(
        ErrorKind::Busy,
        call,
        context(offset),
        format!("the channel's {what} slot keeps changing"),
    ))
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

/// Frees an endpoint's pid slot if it still holds `pid`.
pub(crate) fn release(slot: &AtomicU32, pid: u32) {
    // Release: pairs with the next claimer's Acquire load; our index stores are visible.
    let _ = slot.compare_exchange(pid, 0, Ordering::Release, Ordering::Relaxed);
}
