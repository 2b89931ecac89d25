//! The pure atomic steps of the pub-sub protocol (see the module docs): the publisher's
//! loan and commit, its wake-up decision, a subscriber's look at its cursor's slot, the
//! re-check of a sample's stamp, and the parking announcement. They are generic over
//! [`Slots`], the channel's words as the steps see them: the segment's words in shipped
//! code ([`Words`](super::Words)), loom's atomics in `tests/loom_pubsub.rs` (through
//! `shmkit::channel::__loom` under `cfg(loom)`), so the loom model checks this code.
//! Monomorphised and inlined: the shipped code runs exactly these loads, stores, fences.
//!
//! A subscriber may have a read-only mapping: its steps only load with Relaxed and make
//! stronger orderings with a fence ([`Slots::load`]).
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::primitive::Word;
use at::{CONTROL, HEAD, PARKED, WAKE};
use std::sync::atomic::Ordering;

/// Offsets of the fields in the layout table of the module docs of `pubsub`, from the channel's start.
pub mod at {
    /// The header's payload-size field, which holds `slot_size`.
    pub const SLOT_SIZE: usize = 24;
    /// The number of slots (u32, constant).
    pub const SLOTS: usize = 64;
    /// The wake-up policy (u32, constant).
    pub const POLICY: usize = 68;
    /// The publisher's pid (u32).
    pub const PUBLISHER_PID: usize = 72;
    /// Messages published (u64, own cache line).
    pub const HEAD: usize = 128;
    /// The futex word (u32).
    pub const WAKE: usize = 192;
    /// The parked bits (u64).
    pub const PARKED: usize = 200;
    /// 64 subscriber pids (u32 each).
    pub const TABLE: usize = 256;
    /// The first slot.
    pub const CONTROL: usize = 512;
}

/// Sequence numbers above this are corruption: at 10^9 messages a second a channel needs
/// 146 years to get there, and `2 * seq + 2` stays far from overflowing.
pub const MAX_SEQ: u64 = 1 << 62;

/// Offset of `head` from the channel's start.
#[cfg(loom)]
pub const HEAD_AT: usize = HEAD;
/// Offset of the `wake` futex word.
#[cfg(loom)]
pub const WAKE_AT: usize = WAKE;
/// Offset of the `parked` bits.
#[cfg(loom)]
pub const PARKED_AT: usize = PARKED;
/// Offset of the first slot.
#[cfg(loom)]
pub const SLOTS_AT: usize = CONTROL;

/// The words of a channel as the steps see them.
pub trait Slots {
    /// A u64 word.
    type W64: Word<Int = u64>;
    /// A u32 word.
    type W32: Word<Int = u32>;
    /// The number of slots (a power of two).
    fn slots(&self) -> usize;
    /// The largest message.
    fn slot_size(&self) -> usize;
    /// Bytes from one slot to the next.
    fn stride(&self) -> usize;
    /// The u64 at `at` from the channel's start: `head`, `parked`, or a slot's stamp or
    /// length word.
    fn word64(&self, at: usize) -> &Self::W64;
    /// The u32 at `at`: the `wake` futex word.
    fn word32(&self, at: usize) -> &Self::W32;

    /// Offset (from the channel's start) of the slot of message `seq`.
    #[inline]
    fn slot(&self, seq: u64) -> usize {
        CONTROL + (seq as usize & (self.slots() - 1)) * self.stride()
    }

    /// Loads the u64 at `at`: a Relaxed load (allowed on read-only mappings) and, for a
    /// stronger `order`, an Acquire fence.
    #[inline]
    fn load(&self, at: usize, order: Ordering) -> u64 {
        let v = self.word64(at).load(Ordering::Relaxed);
        if order != Ordering::Relaxed {
            // Acquire fence: turns the load above into an Acquire load.
            Self::W64::fence(Ordering::Acquire);
        }
        v
    }
}

/// The number of the next message to publish: `head`, or one more when message `head` is
/// committed but its publisher died before recording it. `Err(head)` past 2^62.
#[inline]
pub fn newest<S: Slots>(s: &S) -> Result<u64, u64> {
    // Acquire: pairs with the publisher's Release store of head.
    let head = s.load(HEAD, Ordering::Acquire);
    if head > MAX_SEQ {
        return Err(head);
    }
    let stamp = s.load(s.slot(head), Ordering::Acquire);
    Ok(if stamp == 2 * head + 2 {
        head + 1
    } else {
        head
    })
}

/// Publisher: starts writing message `seq`; returns its slot's offset. The slot's previous
/// message is gone from here on.
#[inline]
pub fn begin<S: Slots>(s: &S, seq: u64) -> usize {
    let slot = s.slot(seq);
    // Odd stamp: the slot is being written (Relaxed; the fence below orders it before the
    // data stores).
    s.word64(slot).store(2 * seq + 1, Ordering::Relaxed);
    // Release fence: a subscriber whose Acquire fence (after copying) sees any of our data
    // stores also sees the odd stamp above, so its re-check of the stamp fails.
    S::W64::fence(Ordering::Release);
    slot
}

/// Publisher: commits message `seq` of `len` bytes in `slot` (its bytes were written with
/// Relaxed copies) and records it in `head`.
#[inline]
pub fn commit<S: Slots>(s: &S, slot: usize, seq: u64, len: usize) {
    s.word64(slot + 8).store(len as u64, Ordering::Relaxed);
    // Release: pairs with a subscriber's Acquire load of the stamp: it sees the length and
    // the bytes written before. This is the commit.
    s.word64(slot).store(2 * seq + 2, Ordering::Release);
    // Release: pairs with the Acquire load of head by late joiners, lapped subscribers and
    // a future publisher.
    s.word64(HEAD).store(seq + 1, Ordering::Release);
}

/// Publisher, after a commit: whether to wake sleepers (`always`: the policy
/// [`Wakeups::Always`](super::Wakeups::Always)). When it returns `Some(parked bits)`,
/// `wake` was bumped and the caller calls `FUTEX_WAKE`.
#[inline]
pub fn bump<S: Slots>(s: &S, always: bool) -> Option<u64> {
    // SeqCst fence: pairs with the one a subscriber makes after setting its parked bit and
    // before its last look at the slot: either it sees our commit, or we see its bit.
    S::W64::fence(Ordering::SeqCst);
    let parked = s.word64(PARKED).load(Ordering::Relaxed);
    if parked == 0 && !always {
        return None;
    }
    // Release: a subscriber that loads the new value with Acquire sees the commit.
    s.word32(WAKE).fetch_add(1, Ordering::Release);
    Some(parked)
}

/// A ready slot: its offset and the message's stamp and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Offset of the slot from the channel's start.
    pub slot: usize,
    /// The committed stamp seen.
    pub stamp: u64,
    /// The message's length (at most the slot size).
    pub len: usize,
}

/// What one look at the cursor's slot saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// The message is not (completely) published yet.
    Nothing,
    /// The message is there.
    Found(Found),
    /// A bad length, but the slot is being overwritten: look again.
    Again,
    /// The publisher lapped us: move the cursor to `to` (> cursor), counting the messages
    /// skipped as lost.
    Lapped {
        /// The new cursor.
        to: u64,
    },
    /// Corrupt: a committed length past the slot size with a stable stamp.
    BadLength(u64),
    /// Corrupt: a stamp that names no message of this slot up to `head`.
    BadStamp {
        /// The stamp.
        stamp: u64,
        /// `head` read after it.
        head: u64,
    },
}

/// Subscriber: one look at the slot of message `c` (the cursor), without waiting.
#[inline]
pub fn look<S: Slots>(s: &S, c: u64) -> Look {
    let slot = s.slot(c);
    let want = 2 * c + 2;
    // Acquire: pairs with the Release stamp store in `commit`: when the stamp is ours, the
    // length and the bytes are written. One load; it is only compared.
    let stamp = s.load(slot, Ordering::Acquire);
    if stamp < want {
        // Not yet published, or being written (2c + 1).
        return Look::Nothing;
    }
    if stamp == want {
        let len = s.load(slot + 8, Ordering::Relaxed);
        if len <= s.slot_size() as u64 {
            return Look::Found(Found {
                slot,
                stamp,
                len: len as usize,
            });
        }
        // Acquire fence, then the stamp again: an overwrite in progress explains a bad
        // length (the next look sees the later lap); a stable stamp does not.
        S::W64::fence(Ordering::Acquire);
        if s.load(slot, Ordering::Relaxed) != stamp {
            return Look::Again;
        }
        return Look::BadLength(len);
    }
    // A later lap: the slot holds (or is receiving) message m.
    let m = (stamp - 1) / 2;
    let mask = s.slots() as u64 - 1;
    // Acquire: pairs with the publisher's Release store of head. Loaded after the stamp,
    // it is at least m: a publisher stores `head = m` before it stamps message m, and a
    // Release (the commit's store, the fence of the previous notify, or the one in
    // Publisher::open_in) separates the two, which our Acquire load of the stamp pairs
    // with.
    let head = s.load(HEAD, Ordering::Acquire);
    if m > MAX_SEQ || head > MAX_SEQ || (m ^ c) & mask != 0 || m > head {
        return Look::BadStamp { stamp, head };
    }
    // m >= c + slots (same slot, later), so this is past c. Skip the slot the publisher
    // writes next as well: it is about to be overwritten.
    Look::Lapped {
        to: head + 1 - s.slots() as u64,
    }
}

/// Subscriber, after copying bytes of `found`: whether the slot still holds the message
/// (the copy is the message's), checking its stamp again.
#[inline]
pub fn intact<S: Slots>(s: &S, found: &Found) -> bool {
    // Acquire fence: if any copy before it saw a byte of a later write, the load below sees
    // that write's odd stamp (or a later one), which the publisher stored before its
    // Release fence.
    S::W64::fence(Ordering::Acquire);
    s.load(found.slot, Ordering::Relaxed) == found.stamp
}

/// Subscriber: the cursor against `head` (a waiting subscriber's check): a correct
/// channel keeps `cursor <= head + 1`. `Err(head)` otherwise.
#[inline]
pub fn check_cursor<S: Slots>(s: &S, cursor: u64) -> Result<(), u64> {
    let head = s.load(HEAD, Ordering::Acquire);
    if cursor > head.saturating_add(1) {
        return Err(head);
    }
    Ok(())
}

/// Subscriber: announces that it is about to sleep (its `bit` in `parked` when
/// registered; `None` for a read-only subscriber under [`Wakeups::Always`](super::Wakeups::Always));
/// returns the `wake` value to sleep on. The caller must look at the slot again after
/// this, before it sleeps.
#[inline]
pub fn announce<S: Slots>(s: &S, bit: Option<u64>) -> u32 {
    if let Some(bit) = bit {
        // Writable: only read-write subscribers have a bit.
        s.word64(PARKED).fetch_or(bit, Ordering::Relaxed);
    }
    // SeqCst fence: pairs with the publisher's in `bump` (Dekker): either the look after
    // this sees the message, or the publisher sees our bit and wakes us.
    S::W64::fence(Ordering::SeqCst);
    // Acquire (fence): pairs with the publisher's Release bump of wake: if we see the
    // bump, the look after this sees the message committed before it.
    let seen = s.word32(WAKE).load(Ordering::Relaxed);
    S::W64::fence(Ordering::Acquire);
    seen
}

/// Subscriber: withdraws its announcement.
#[inline]
pub fn unannounce<S: Slots>(s: &S, bit: Option<u64>) {
    if let Some(bit) = bit {
        // Relaxed: at worst the publisher makes one needless wake-up call.
        s.word64(PARKED).fetch_and(!bit, Ordering::Relaxed);
    }
}
