//! A publish-subscribe channel: one publisher, any number of subscribers, fixed-size slots.
//!
//! The publisher writes message after message into a ring of `slots` slots (a power of two)
//! of `slot_size` bytes each; message `seq` goes to slot `seq % slots`. It never waits for
//! subscribers: when the ring is full it overwrites the oldest message. Each subscriber keeps
//! its own cursor (the sequence number of the next message it wants) in its own memory, so a
//! subscriber that only polls needs nothing but a read-only attachment
//! ([`Segment::attach_read_only`](crate::Segment::attach_read_only)). A subscriber that fell
//! a lap behind learns how many messages it lost: each [`Delivery`] and [`Sample`] carries
//! the number of messages lost just before it, and [`Subscriber::lost_total`] the sum.
//!
//! Lineage: each slot is a seqlock (Lameter, "Effective synchronization on Linux/NUMA
//! systems", 2005, the Linux kernel's `seqcount_t`; orderings as in Boehm, "Can Seqlocks Get
//! Along With Programming Language Memory Models?", MSPC 2012) whose sequence word, the
//! *stamp*, also names the message it holds (`2 * seq + 1` while message `seq` is written,
//! `2 * seq + 2` once it is committed). The ring of sequence-numbered slots that readers
//! follow on their own cursors, without the producer ever waiting for them, is the one of
//! broadcast buffers such as the LMAX Disruptor (Thompson et al., 2011) without its gating
//! sequences, and Aeron's `BroadcastTransmitter`/`BroadcastReceiver`, where a receiver that
//! was lapped jumps forward and reports the loss. As in FastForward (Giacomoni et al., PPoPP
//! 2008), a subscriber learns that a message is ready from its slot's stamp, so a receive
//! touches only the slot's own cache lines.
//!
//! Layout (offsets from the channel's start, which is 64-byte aligned):
//!
//! | offset | size            | field                                                     |
//! |-------:|----------------:|-----------------------------------------------------------|
//! | 0      | 64              | header (magic `shmkPUBS`; its payload size is `slot_size`) |
//! | 64     | 4               | `slots`: the number of slots, a power of two               |
//! | 68     | 4               | wake-up policy: 0 [`Wakeups::Parked`], 1 [`Wakeups::Always`] |
//! | 72     | 4               | publisher's pid, 0 when no publisher is attached           |
//! | 128    | 8               | `head`: messages published (the next message's `seq`)      |
//! | 192    | 4               | `wake`: futex sequence word (publisher bumps, subscribers sleep on it) |
//! | 200    | 8               | `parked`: bit `i` set while registered subscriber `i` sleeps or is about to |
//! | 256    | 256             | subscriber table: 64 pids of read-write subscribers, 0 = free |
//! | 512    | `slots * stride`| the slots                                                 |
//!
//! A slot is `stride = round_up(16 + slot_size, 64)` bytes: the stamp (u64), the message
//! length (u64, at most `slot_size`), then the message bytes.
//!
//! The protocol:
//! - publish `seq`: `stamp = 2 seq + 1` (Relaxed); Release fence; write the length and the
//!   bytes (Relaxed atomic copies); `stamp = 2 seq + 2` (Release, the commit);
//!   `head = seq + 1` (Release); wake sleepers (below).
//! - receive at cursor `c`: `s1 = stamp` (Acquire). `s1 == 2c + 2`: read the length and the
//!   bytes (Relaxed), Acquire fence, `s2 = stamp` (Relaxed): the copy is the message if
//!   `s2 == s1`, else the slot was overwritten while it was read and the message is lost.
//!   `s1 < 2c + 2`: message `c` is not (completely) published yet. `s1 > 2c + 2`: the slot
//!   holds a later lap, message `m = (s1 - 1) / 2`; the subscriber was lapped and jumps to
//!   `max(head, m) + 1 - slots` (skipping the slot the publisher is about to overwrite),
//!   counting the messages it skipped as lost.
//! - late joiners ([`Subscriber::open_last`]) start at `head - min(k, head, slots)`.
//!
//! Invariants, as a correct publisher keeps them:
//! - Slot `i` only ever holds messages `seq` with `seq % slots == i`; its stamp only grows.
//! - `head` trails the stamps by at most one message: a publisher killed between the commit
//!   and the store of `head` leaves message `head` committed; a new publisher (and a late
//!   joiner) looks at that slot's stamp and counts it.
//! - A publisher killed in the middle of a write leaves that slot's stamp odd: subscribers
//!   wait for it (and get [`ErrorKind::PeerDied`] while nobody
//!   publishes); a new publisher rewrites that `seq` and goes on.
//!
//! ## Blocking waits and who gets woken
//! A sleeping subscriber waits with [`futex(2)`] `FUTEX_WAIT` on `wake`, which works on a
//! read-only mapping (the kernel only reads the word). The publisher must know whether to
//! make the `FUTEX_WAKE` system call, which costs far more than a publish. The policy is
//! chosen at creation ([`Wakeups`]):
//! - [`Wakeups::Parked`] (the default): a read-write subscriber registers in the subscriber
//!   table (up to [`MAX_REGISTERED`] at once) and sets its bit in `parked` before it sleeps
//!   (Dekker's pattern with the publisher, as in [`Wait`]); the publisher wakes only when
//!   `parked` is not zero, so a publish costs no system call while nobody sleeps. Read-only
//!   subscribers cannot announce themselves, so they can only poll ([`Wait::Poll`]).
//! - [`Wakeups::Always`]: the publisher bumps `wake` and calls `FUTEX_WAKE` after every
//!   publish, so read-only subscribers can block too, at the price of a system call per
//!   message.
//!
//! A subscriber killed while parked leaves its bit set; the publisher then wakes nobody
//! (`FUTEX_WAKE` returns 0), looks up the pids of the set bits with
//! [`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html) (signal 0) and clears the
//! bits of dead and departed subscribers. A new subscriber that takes a dead one's table
//! entry clears its bit as well.
//!
//! ## Liveness
//! The publisher records its pid; [`Subscriber::publisher_alive`] asks the kernel whether it
//! exists, and a subscriber waiting for the next message gets
//! [`ErrorKind::PeerDied`] once the publisher is dead and
//! nothing more is there to receive. A new process can then open the publisher's end
//! ([`Publisher::open_in`]) and continue the sequence where the dead one stopped. The check
//! has the limits described in [`channel`](crate::channel) (zombies, reused pids).
//!
//! ## Hostile peers
//! `slots`, `slot_size` and the policy are read once at open and checked against the header.
//! After that, a stamp is only compared with the number a subscriber expects; a stamp of a
//! later lap must name a message of the same slot below 2^62 and not past `head` (a
//! publisher stores `head = m` before it stamps message `m`), and `head` must be below 2^62,
//! else the receive fails with [`ErrorKind::Corrupt`]; so a scribbled stamp cannot move a
//! cursor past what was published. A waiting subscriber also checks that its cursor is at
//! most `head + 1` (`Corrupt` otherwise: it would wait for messages that are not coming).
//! A length
//! is read once and must be at most `slot_size` (unless the slot was being overwritten,
//! which is a loss); slot indices are always masked. `parked`, `wake` and the pid table only
//! decide whom to wake or which pid to check. So a peer that scribbles over the channel can
//! make receives fail, lose messages or return garbage bytes, never read outside the
//! channel, panic, or wait past a timeout.
//!
//! ```
//! use shmkit::channel::pubsub::{self, Publisher, Subscriber};
//! use shmkit::Segment;
//!
//! let segment = Segment::create(shmkit::Key::PRIVATE, pubsub::size_for(64, 256))?.remove_on_drop();
//! let map = segment.attach()?;
//! pubsub::create_in(map.region(), 0, 64, 256)?;
//! let mut publisher = Publisher::open_in(map.region(), 0)?;  // in the producer process
//! let ro = segment.attach_read_only()?;                      // a consumer needs only this
//! let mut subscriber = Subscriber::open_in(ro.region(), 0)?;
//!
//! let loan = publisher.loan(5)?;                             // zero-copy: write in place
//! loan.write_at(0, b"hello")?;
//! assert_eq!(loan.commit(), 0);                              // its sequence number
//! publisher.publish(b"world")?;                              // or copy
//!
//! let sample = subscriber.recv_ref()?;                       // read in place, validated
//! let mut five = [0u8; 5];
//! assert!(sample.read_at(0, &mut five)?.is_intact());
//! assert_eq!(&five, b"hello");
//! drop(sample);
//! let mut buf = Vec::new();
//! let delivery = subscriber.recv(&mut buf)?;
//! assert_eq!((buf.as_slice(), delivery.seq, delivery.lost), (&b"world"[..], 1, 0));
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! [`futex(2)`]: https://man7.org/linux/man-pages/man2/futex.2.html
//! [`Wait`]: crate::channel::Wait
//! [`Wait::Poll`]: crate::channel::Wait::Poll

mod publisher;
pub(crate) mod steps;
mod subscriber;

pub(crate) use steps::Slots;

pub use publisher::{Loan, Publisher};
pub use subscriber::{Check, Delivery, Sample, Subscriber};

use super::endpoint::{context, corrupt};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::header::{self, round_up, Layout};
use crate::region::{Access, ReadWrite, Region};
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use steps::at::{self, CONTROL, HEAD, PARKED, POLICY, PUBLISHER_PID, SLOTS, TABLE, WAKE};

const MAGIC: [u8; 8] = *b"shmkPUBS";
/// Bytes before a slot's message: the stamp and the length words.
const SLOT_HEADER: usize = 16;

/// How many read-write subscribers can be registered at once (bits of `parked`).
pub const MAX_REGISTERED: usize = 64;
/// The fewest slots.
pub const MIN_SLOTS: usize = 2;
/// The most slots.
pub const MAX_SLOTS: usize = 1 << 24;
/// The largest slot size (slot sizes are multiples of 8 from 8 up to this).
pub const MAX_SLOT_SIZE: usize = 1 << 20;

/// How the publisher decides to wake sleeping subscribers; fixed at creation (see the
/// module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wakeups {
    /// Wake only when a registered (read-write) subscriber announced that it sleeps: no
    /// system call per publish while nobody sleeps; read-only subscribers can only poll.
    #[default]
    Parked,
    /// Bump the futex word and call `FUTEX_WAKE` after every publish: read-only subscribers
    /// can block too; every publish costs a system call.
    Always,
}

/// Bytes of one slot: its 16-byte header and `slot_size` bytes, rounded up to a cache line.
const fn stride(slot_size: usize) -> usize {
    round_up(SLOT_HEADER + slot_size, 64)
}

/// Bytes a channel of `slots` slots of `slot_size` bytes takes in a region.
pub const fn size_for(slots: usize, slot_size: usize) -> usize {
    CONTROL + slots * stride(slot_size)
}

/// The most slots (a power of two, at least [`MIN_SLOTS`]) of `slot_size` bytes that fit in
/// `len` bytes, or `None` if none do.
pub fn slots_for(len: usize, slot_size: usize) -> Option<usize> {
    let n = (len.checked_sub(CONTROL)? / stride(slot_size)).min(MAX_SLOTS);
    (n >= MIN_SLOTS).then(|| 1usize << (usize::BITS - 1 - n.leading_zeros()))
}

fn layout(slots: usize, slot_size: usize) -> Layout {
    Layout {
        what: "pub-sub channel",
        magic: MAGIC,
        size: size_for(slots, slot_size),
        payload_size: slot_size,
        payload_align: 8,
        lock_size: 0,
    }
}

pub(crate) fn valid_shape(slots: usize, slot_size: usize) -> bool {
    slots.is_power_of_two()
        && (MIN_SLOTS..=MAX_SLOTS).contains(&slots)
        && slot_size % 8 == 0
        && (8..=MAX_SLOT_SIZE).contains(&slot_size)
        && size_for(slots, slot_size) <= u32::MAX as usize
}

/// Lays out a new channel of `slots` slots (a power of two from [`MIN_SLOTS`] to
/// [`MAX_SLOTS`]) of `slot_size` bytes (a multiple of 8 up to [`MAX_SLOT_SIZE`]) at `offset`
/// of `region` (64-byte aligned, [`size_for`] bytes free, state word zero), with the
/// [`Wakeups::Parked`] policy. No publisher is attached; message sequence numbers start at 0.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for a bad shape; [`ErrorKind::OutOfBounds`],
/// [`ErrorKind::Misaligned`], or [`ErrorKind::AlreadyExists`] when the memory is not free.
pub fn create_in(
    region: &Region<ReadWrite>,
    offset: usize,
    slots: usize,
    slot_size: usize,
) -> Result<()> {
    create_with(region, offset, slots, slot_size, Wakeups::Parked)
}

/// As [`create_in`], with the wake-up policy `wakeups`.
///
/// # Errors
/// As [`create_in`].
pub fn create_with(
    region: &Region<ReadWrite>,
    offset: usize,
    slots: usize,
    slot_size: usize,
    wakeups: Wakeups,
) -> Result<()> {
    const CALL: &str = "pubsub::create_in";
    if !valid_shape(slots, slot_size) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            CALL,
            context(offset),
            format!("{slots} slots of {slot_size} bytes: slots must be a power of two from {MIN_SLOTS} to {MAX_SLOTS}, the slot size a multiple of 8 from 8 to {MAX_SLOT_SIZE}, the total below 4 GiB"),
        ));
    }
    let l = layout(slots, slot_size);
    header::begin_create(region, offset, &l, CALL)?;
    let body = (|| {
        // Every stamp 0 (no message), no publisher, nobody parked or registered.
        region.fill(offset + SLOTS, l.size - SLOTS, 0)?;
        region.write_at(offset + SLOTS, &(slots as u32).to_ne_bytes())?;
        let policy = u32::from(wakeups == Wakeups::Always);
        region.write_at(offset + POLICY, &policy.to_ne_bytes())
    })();
    if let Err(e) = body {
        header::abandon_create(region, offset);
        return Err(e);
    }
    // Release (inside): a process that opens the channel sees the body.
    header::finish_create(region, offset)
}

/// Creates a channel over all of `region` (offset 0, slots of `slot_size` bytes, as many as
/// fit) and returns the number of slots.
///
/// # Errors
/// As [`create_in`]; [`ErrorKind::InvalidArgument`] when the region is too small.
pub fn create_over(region: &Region<ReadWrite>, slot_size: usize) -> Result<usize> {
    let slots = slots_for(region.len(), slot_size).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidArgument,
            "pubsub::create_over",
            context(0),
            format!(
                "a region of {} bytes is too small for {MIN_SLOTS} slots of {slot_size} bytes",
                region.len()
            ),
        )
    })?;
    create_in(region, 0, slots, slot_size)?;
    Ok(slots)
}

/// The words of a channel, validated at open: in bounds and aligned.
struct Words<R> {
    region: R,
    offset: usize,
    slots: usize,
    slot_size: usize,
    stride: usize,
    always_wake: bool,
}

/// Validates the channel at `offset` and returns its words: `slots`, `slot_size` and the
/// policy are read once, checked, and compared with the header by `header::open`.
fn open<A: Access, R: Deref<Target = Region<A>>>(
    region: R,
    offset: usize,
    call: &'static str,
) -> Result<Words<R>> {
    let field_at = |field: usize| {
        offset.checked_add(field).ok_or_else(|| {
            Error::new(
                ErrorKind::OutOfBounds,
                call,
                context(offset),
                "offset overflows",
            )
        })
    };
    let slot_size = region.load_u32(field_at(at::SLOT_SIZE)?, Ordering::Acquire)? as usize;
    // The header first: it says whether anything is there at all (a header of a valid
    // shape that is not ready gives NotInitialised rather than LayoutMismatch).
    let slots = match region.load_u32(field_at(SLOTS)?, Ordering::Relaxed) {
        Ok(n) => n as usize,
        Err(_) => MIN_SLOTS,
    };
    if !valid_shape(slots, slot_size) {
        header::open(&*region, offset, &layout(MIN_SLOTS, 8), call)?;
        return Err(Error::new(
            ErrorKind::LayoutMismatch,
            call,
            context(offset),
            format!("invalid shape: {slots} slots of {slot_size} bytes"),
        ));
    }
    header::open(&*region, offset, &layout(slots, slot_size), call)?;
    let always_wake = match region.load_u32(offset + POLICY, Ordering::Relaxed)? {
        0 => false,
        1 => true,
        other => {
            return Err(corrupt(
                call,
                offset,
                format!("invalid wake-up policy {other}"),
            ))
        }
    };
    Ok(Words {
        region,
        offset,
        slots,
        slot_size,
        stride: stride(slot_size),
        always_wake,
    })
}

impl<A: Access, R: Deref<Target = Region<A>>> Words<R> {
    /// The u64 at `at` (a control word or a slot's word), for loads only unless the mapping
    /// is writable.
    fn u64(&self, at: usize) -> &AtomicU64 {
        // SAFETY: `at` is HEAD, PARKED, or CONTROL + a masked slot index times the stride
        // (a multiple of 64) + 0 or 8; open checked that the channel lies inside the
        // region at a 64-byte aligned address, so the word is in bounds and 8-aligned. It
        // is only accessed atomically, and on a read-only mapping only loaded with Relaxed
        // (callers go through `load` or check `A::WRITABLE`), which std allows.
        unsafe { self.region.atomic_u64_unchecked(self.offset + at) }
    }

    /// The u32 at `at` (one of the 4-aligned control words below CONTROL), as `u64` says.
    fn u32(&self, at: usize) -> &AtomicU32 {
        // SAFETY: as in `u64`, for a 4-aligned control word inside the channel.
        unsafe { self.region.atomic_u32_unchecked(self.offset + at) }
    }

    /// The number of the next message to publish ([`steps::newest`]).
    fn newest(&self, call: &'static str) -> Result<u64> {
        steps::newest(self)
            .map_err(|head| corrupt(call, self.offset, format!("head {head} is past 2^62")))
    }
}

impl<A: Access, R: Deref<Target = Region<A>>> Slots for Words<R> {
    type W64 = AtomicU64;
    type W32 = AtomicU32;
    #[inline]
    fn slots(&self) -> usize {
        self.slots
    }
    #[inline]
    fn slot_size(&self) -> usize {
        self.slot_size
    }
    #[inline]
    fn stride(&self) -> usize {
        self.stride
    }
    #[inline]
    fn word64(&self, at: usize) -> &AtomicU64 {
        self.u64(at)
    }
    #[inline]
    fn word32(&self, at: usize) -> &AtomicU32 {
        self.u32(at)
    }
}
