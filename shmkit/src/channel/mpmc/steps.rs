//! The pure atomic steps of the MPMC queue (see the module docs): a producer's claim and
//! publish, a consumer's claim and release, the positions check, and the repair of a slot
//! a dead peer left claimed. They are generic over [`Cells`], the queue's words as the
//! steps see them: the segment's words in shipped code ([`Queue`](super::Queue)), loom's
//! atomics in `tests/loom_mpmc.rs` (through `shmkit::channel::__loom` under `cfg(loom)`),
//! so the loom model checks this code. Monomorphised and inlined: the shipped code runs
//! exactly these loads, stores and compare-and-swaps.
//!
//! What a step cannot accept comes back as [`Bad`], the raw numbers, for the caller to
//! turn into [`Corrupt`](crate::ErrorKind::Corrupt) with context.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::primitive::Word;
use std::sync::atomic::Ordering;

// The layout's offsets, from the queue's start (see the module docs of `mpmc`).
/// `enqueue`: the next position to claim for a producer (u64).
pub const ENQUEUE: usize = 64;
/// `dequeue`: the next position to claim for a consumer (u64).
pub const DEQUEUE: usize = 128;
/// `wake`: the futex sequence word (u32).
pub const WAKE: usize = 192;
/// `parked`: how many consumers sleep or are about to (u32).
pub const PARKED: usize = 196;
/// The handle table.
pub const TABLE: usize = 256;
/// Bytes per handle entry.
pub const ENTRY: usize = 64;
/// The first slot.
pub const SLOTS: usize = TABLE + MAX_HANDLES * ENTRY;
/// The largest position a correct queue reaches in practice (2^60 messages); the
/// sequence arithmetic (`2 * (pos + capacity) + 1`) stays far from overflowing.
pub const MAX_POS: u64 = 1 << 60;
/// The most steps one look at the queue takes (a claim by a producer, a poll by a
/// consumer): a step is a lost compare-and-swap, a position another handle moved on, or a
/// skip passed over. Each one means another handle made progress, or a peer scribbled; past
/// this many the look reports nothing for now (a full queue, an empty one), and the caller
/// looks again from its wait loop, which checks its deadline.
pub const MAX_STEPS: u32 = 1 << 12;

/// How many handles (producers and consumers together) can be open on one queue.
pub const MAX_HANDLES: usize = 64;

/// Offset of `enqueue` from the queue's start.
#[cfg(loom)]
pub const ENQUEUE_AT: usize = ENQUEUE;
/// Offset of `dequeue`.
#[cfg(loom)]
pub const DEQUEUE_AT: usize = DEQUEUE;
/// Offset of the handle table (entries of 64 bytes: `who`, then the intent).
#[cfg(loom)]
pub const TABLE_AT: usize = TABLE;
/// Bytes per handle entry.
#[cfg(loom)]
pub const ENTRY_SIZE: usize = ENTRY;
/// Offset of the first slot (its sequence word, then its u32 length at + 8).
#[cfg(loom)]
pub const SLOTS_AT: usize = SLOTS;
/// Offset of the `wake` futex word.
#[cfg(loom)]
pub const WAKE_AT: usize = WAKE;
/// Offset of the `parked` count.
#[cfg(loom)]
pub const PARKED_AT: usize = PARKED;

/// The words of a queue as the steps see them.
pub trait Cells {
    /// A u64 word.
    type W64: Word<Int = u64>;
    /// A u32 word.
    type W32: Word<Int = u32>;
    /// The number of slots (a power of two).
    fn capacity(&self) -> usize;
    /// Bytes from one slot to the next.
    fn stride(&self) -> usize;
    /// The u64 at `at` from the queue's start: `enqueue`, `dequeue`, a table word or a
    /// slot's sequence word.
    fn word64(&self, at: usize) -> &Self::W64;
    /// The u32 at `at`: `wake`, `parked` or a slot's length word.
    fn word32(&self, at: usize) -> &Self::W32;

    /// The next position to claim for a producer.
    #[inline]
    fn enqueue(&self) -> &Self::W64 {
        self.word64(ENQUEUE)
    }
    /// The next position to claim for a consumer.
    #[inline]
    fn dequeue(&self) -> &Self::W64 {
        self.word64(DEQUEUE)
    }
    /// The slot index of `pos`.
    #[inline]
    fn index(&self, pos: u64) -> usize {
        pos as usize & (self.capacity() - 1)
    }
    /// Offset (from the queue's start) of the slot of `pos`.
    #[inline]
    fn slot(&self, pos: u64) -> usize {
        SLOTS + self.index(pos) * self.stride()
    }
    /// The sequence word of `pos`'s slot.
    #[inline]
    fn seq(&self, pos: u64) -> &Self::W64 {
        self.word64(self.slot(pos))
    }
    /// The length word of `pos`'s slot.
    #[inline]
    fn len(&self, pos: u64) -> &Self::W32 {
        self.word32(self.slot(pos) + 8)
    }
    /// Handle entry `i`: its `who` word and its intent word.
    #[inline]
    fn entry(&self, i: usize) -> (&Self::W64, &Self::W64) {
        (
            self.word64(TABLE + i * ENTRY),
            self.word64(TABLE + i * ENTRY + 8),
        )
    }
    /// Classifies the sequence word `word` of the slot of `pos`: `None` when no correct
    /// peer can write it there.
    #[inline]
    fn classify(&self, pos: u64, word: u64) -> Option<Slot> {
        let (n, skip) = (word >> 1, word & 1 == 1);
        let idx = self.index(pos);
        if self.index(n) == idx && !skip {
            Some(Slot::Free(n))
        } else if n >= 1 && self.index(n - 1) == idx {
            Some(Slot::Ready(n - 1, skip))
        } else {
            None
        }
    }
}

/// What a sequence word says about its slot, relative to the slot's own index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Free for the producer of this position.
    Free(u64),
    /// Published for the consumer of this position; `true` for a skip.
    Ready(u64, bool),
}

/// What a correct queue cannot show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// A position word past 2^60.
    Position(u64),
    /// A position reached past 2^60 while stepping.
    Stepped(u64),
    /// The positions seen further apart than the capacity, or `dequeue` past `enqueue`.
    Positions {
        /// `enqueue`, first load.
        early: u64,
        /// `enqueue`, second load.
        enqueue: u64,
        /// `dequeue`, between them.
        dequeue: u64,
    },
    /// A sequence word no peer at `pos` can write (or a stale position that does not move).
    Seq {
        /// The position.
        pos: u64,
        /// The word.
        word: u64,
    },
    /// A message length past the message size.
    Length {
        /// The position.
        pos: u64,
        /// The length.
        len: usize,
    },
    /// A publish or release found the slot taken (repaired) meanwhile.
    Taken {
        /// The position.
        pos: u64,
        /// The sequence word found.
        found: u64,
    },
}

/// Loads a position word once and checks it.
#[inline]
pub fn position<W: Word<Int = u64>>(word: &W, order: Ordering) -> Result<u64, Bad> {
    let pos = word.load(order);
    if pos > MAX_POS {
        return Err(Bad::Position(pos));
    }
    Ok(pos)
}

/// Reads both positions and checks them against each other; returns `(dequeue,
/// enqueue)` with `dequeue <= enqueue <= dequeue + capacity` (the module docs of
/// [`Queue::positions`](super::Queue::positions) say why in this order).
#[inline]
pub fn positions<Q: Cells>(q: &Q) -> Result<(u64, u64), Bad> {
    // Acquire: pairs with the Release claim that wrote it.
    let early = position(q.enqueue(), Ordering::Acquire)?;
    // Acquire: pairs with the Release claim that wrote it.
    let dequeue = position(q.dequeue(), Ordering::Acquire)?;
    // Acquire: a claim past a position seen here also shows its claimant's intent to
    // `repair`.
    let enqueue = position(q.enqueue(), Ordering::Acquire)?;
    let capacity = q.capacity() as u64;
    if early > dequeue + capacity || dequeue > enqueue {
        return Err(Bad::Positions {
            early,
            enqueue,
            dequeue,
        });
    }
    Ok((dequeue, enqueue))
}

/// Records that the handle in entry `i` is about to claim `pos`. Published by the
/// claim's Release CAS (see the module docs).
#[inline]
pub fn intend<Q: Cells>(q: &Q, i: usize, pos: u64) {
    q.entry(i).1.store(pos + 1, Ordering::Relaxed);
}

/// Producer (handle entry `entry`): claims the next position: `Ok(None)` when the queue
/// is full, or when [`MAX_STEPS`] claims in a row were lost.
#[inline]
pub fn claim<Q: Cells>(q: &Q, entry: usize) -> Result<Option<u64>, Bad> {
    let mut pos = position(q.enqueue(), Ordering::Relaxed)?;
    for _ in 0..MAX_STEPS {
        // Acquire: pairs with the consumer's Release when it freed the slot: its reads of
        // the previous message happen before we overwrite it.
        let word = q.seq(pos).load(Ordering::Acquire);
        match q.classify(pos, word) {
            Some(Slot::Free(n)) if n == pos => {
                intend(q, entry, pos);
                // Release: whoever sees `enqueue` past `pos` sees our intent (the death
                // check). The slot itself is ordered by the sequence word.
                match q.enqueue().compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(Some(pos)),
                    Err(now) => pos = now,
                }
            }
            // The previous lap's message is still here (published, or being written).
            Some(Slot::Free(n)) | Some(Slot::Ready(n, _))
                if n < pos && n + q.capacity() as u64 == pos =>
            {
                return Ok(None)
            }
            Some(Slot::Free(n)) | Some(Slot::Ready(n, _)) if n >= pos => {
                // Someone claimed `pos` already; the Acquire above saw its publish (or
                // later), which came after its claim: `enqueue` has moved.
                let now = position(q.enqueue(), Ordering::Relaxed)?;
                if now == pos {
                    return Err(Bad::Seq { pos, word });
                }
                pos = now;
            }
            _ => return Err(Bad::Seq { pos, word }),
        }
        if pos > MAX_POS {
            return Err(Bad::Stepped(pos));
        }
    }
    Ok(None)
}

/// Producer: moves the claimed slot of `pos` from free to published (`skip` for no
/// message) after its length and bytes were written. `Err(Taken)` when a repair took the
/// slot meanwhile. The caller then wakes a parked consumer.
#[inline]
pub fn publish<Q: Cells>(q: &Q, pos: u64, skip: bool) -> Result<(), Bad> {
    let free = 2 * pos;
    let published = 2 * (pos + 1) + u64::from(skip);
    // Release: pairs with the consumer's Acquire load of the sequence word: it sees the
    // length and the message bytes written before. A CAS, not a store: if the slot is not
    // as we claimed it, a repair took it (see the module docs) and we must not overwrite
    // what is there now.
    q.seq(pos)
        .compare_exchange(free, published, Ordering::Release, Ordering::Relaxed)
        .map(|_| ())
        .map_err(|found| Bad::Taken { pos, found })
}

/// A claimed message: its position, its sequence word, its length (not yet checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// The position.
    pub pos: u64,
    /// The sequence word it was claimed with.
    pub word: u64,
    /// The length word, loaded once.
    pub len: usize,
}

/// Consumer: releases the slot of a claimed position to the next lap's producer, after
/// the message was read. `Err(Taken)` when a repair freed it meanwhile (what was read may
/// be torn).
#[inline]
pub fn release<Q: Cells>(q: &Q, c: &Claimed) -> Result<(), Bad> {
    // Release: pairs with the next producer's Acquire load of the sequence word: our reads
    // of the message happen before it overwrites the slot. A CAS: if a repair freed the
    // slot meanwhile, what we read may be torn, and we say so.
    q.seq(c.pos)
        .compare_exchange(
            c.word,
            2 * (c.pos + q.capacity() as u64),
            Ordering::Release,
            Ordering::Relaxed,
        )
        .map(|_| ())
        .map_err(|found| Bad::Taken { pos: c.pos, found })
}

/// Consumer (handle entry `entry`): claims the next message without waiting, releasing
/// the skips it passes over: `Ok(None)` when there is none now, or when
/// [`MAX_STEPS`] lost races and skips went by without one. A message
/// longer than `message_size` is released and reported as [`Bad::Length`].
#[inline]
pub fn take<Q: Cells>(q: &Q, entry: usize, message_size: usize) -> Result<Option<Claimed>, Bad> {
    let mut pos = position(q.dequeue(), Ordering::Relaxed)?;
    for _ in 0..MAX_STEPS {
        // Acquire: pairs with the producer's Release publish: the length and message
        // bytes are written. One load; the word is only compared.
        let word = q.seq(pos).load(Ordering::Acquire);
        match q.classify(pos, word) {
            Some(Slot::Ready(n, skip)) if n == pos => {
                intend(q, entry, pos);
                // Release: whoever sees `dequeue` past `pos` sees our intent.
                match q.dequeue().compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // One load of the length; checked before any use.
                        let len = q.len(pos).load(Ordering::Relaxed) as usize;
                        let c = Claimed { pos, word, len };
                        if skip {
                            release(q, &c)?;
                            pos += 1;
                        } else if len > message_size {
                            release(q, &c)?;
                            return Err(Bad::Length { pos, len });
                        } else {
                            return Ok(Some(c));
                        }
                    }
                    Err(now) => pos = now,
                }
            }
            // Not published yet, or the previous lap's message is still being read.
            Some(Slot::Free(n)) if n == pos => return Ok(None),
            Some(Slot::Ready(n, _)) if n + q.capacity() as u64 == pos => return Ok(None),
            Some(Slot::Free(n)) | Some(Slot::Ready(n, _)) if n > pos => {
                // Another consumer took `pos`: the slot moved on after its claim.
                let now = position(q.dequeue(), Ordering::Relaxed)?;
                if now == pos {
                    return Err(Bad::Seq { pos, word });
                }
                pos = now;
            }
            _ => return Err(Bad::Seq { pos, word }),
        }
        if pos > MAX_POS {
            return Err(Bad::Stepped(pos));
        }
    }
    Ok(None)
}

/// The roles in the handle table, for `alive`: a producer's claim or a consumer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A producer.
    Producer,
    /// A consumer.
    Consumer,
}

/// Repairs the slot in front of a stuck waiter (a consumer's at `dequeue`, a producer's
/// at `enqueue`) if a dead peer left it claimed (see the module docs), after checking the
/// positions against each other. `alive(role, pos)` says whether a live handle of `role`
/// has the intent `pos` (the caller loaded the claimed position past `pos` with Acquire,
/// so it sees the claimant's intent). At most one repair (one compare-and-swap); returns
/// whether it changed the slot (the caller then wakes a parked consumer).
#[inline]
pub fn repair<Q: Cells>(
    q: &Q,
    consumer: bool,
    alive: impl Fn(Role, u64) -> bool,
) -> Result<bool, Bad> {
    let (dequeue, enqueue) = positions(q)?;
    let pos = if consumer { dequeue } else { enqueue };
    // Acquire: pairs with the Release that published or released the slot.
    let word = q.seq(pos).load(Ordering::Acquire);
    let repaired = match q.classify(pos, word) {
        Some(Slot::Free(n)) => {
            // `enqueue` was loaded with Acquire after the claim of `n` (if any): we see its
            // claimant's intent.
            if enqueue <= n || alive(Role::Producer, n) {
                return Ok(false);
            }
            2 * (n + 1) + 1
        }
        Some(Slot::Ready(n, _)) => {
            // As above, with `dequeue` and the consumer's intent.
            if dequeue <= n || alive(Role::Consumer, n) {
                return Ok(false);
            }
            2 * (n + q.capacity() as u64)
        }
        None => return Err(Bad::Seq { pos, word }),
    };
    // AcqRel: Release publishes the skip (or the freed slot) like a publish (release)
    // would; one CAS from the exact word the dead peer left, so it happens once.
    Ok(q.seq(pos)
        .compare_exchange(word, repaired, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok())
}
