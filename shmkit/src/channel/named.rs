//! Channels opened by name: the segment's key derives from the name, and a name block at
//! the start of the segment records the name and its hash, so that two names whose keys
//! collide are told apart instead of sharing a channel.
//!
//! A name maps to a key by hashing: [`name_hash`] is the 64-bit FNV-1a hash (Fowler, Noll,
//! Vo; <http://www.isthe.com/chongo/tech/comp/fnv/>) of `"shmkit.channel:"` followed by the
//! name's bytes, and [`key_for`] folds it to 32 bits (high half XOR low half; the value 0,
//! which is `IPC_PRIVATE`, becomes 1). Both are stable across versions and machines, so
//! programs agree on a channel's key by its name alone. Like `ftok`'s keys (102,713 real
//! files gave 60,959 distinct keys on the machine this was written on), 32-bit keys collide:
//! among 77,000 names, two share a key with even odds. The name block is how a collision is
//! detected: opening or creating a name whose key already holds another name's channel fails
//! with [`ErrorKind::NameCollision`] naming the other channel, and never hands out that
//! channel.
//!
//! Layout of a named segment:
//!
//! | offset | size | field                                                            |
//! |-------:|-----:|------------------------------------------------------------------|
//! | 0      | 64   | header (magic `shmkNAME`; see `layout::header`)                 |
//! | 64     | 8    | [`name_hash`] of the name                                        |
//! | 72     | 4    | the channel's kind: 1 SPSC, 2 MPMC, 3 pub-sub                    |
//! | 76     | 4    | the name's length in bytes, 1 to [`MAX_NAME`]                    |
//! | 80     | 8    | the channel's size in bytes (it starts at offset 256)            |
//! | 96     | 160  | the name's bytes                                                 |
//! | 256    | …    | the channel                                                      |
//!
//! Every field is read once and checked: a name block that does not match its own hash, or
//! holds an impossible length, kind or size, is [`ErrorKind::Corrupt`].
//!
//! ```
//! use shmkit::channel::named::NamedChannel;
//!
//! # let name = format!("doc-example-{}", std::process::id());
//! let channel = NamedChannel::builder(&name).spsc(1 << 12).create()?; // in one process
//! # let _guard = channel.segment().clone().remove_on_drop();
//! let mut tx = channel.sender()?;
//!
//! let other = NamedChannel::open(&name)?;                             // in another
//! let mut rx = other.receiver()?;
//! tx.try_send(b"by name").map_err(|e| e.into_error())?;
//! assert_eq!(rx.recv_ref()?.to_vec()?, b"by name");
//! # Ok::<(), shmkit::Error>(())
//! ```

use super::mpmc::{self, Consumer, Producer};
use super::pubsub::{self, Publisher, Subscriber};
use super::spsc::{self, Receiver, Sender};
use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use crate::layout::header::{self, Layout};
use crate::region::{ReadWrite, Region};
use crate::shm::{Segment, DEFAULT_MODE};
use crate::Attachment;
use std::fmt;
use std::time::{Duration, Instant};

const MAGIC: [u8; 8] = *b"shmkNAME";
const HASH: usize = 64;
const KIND: usize = 72;
const NAME_LEN: usize = 76;
const CHANNEL_SIZE: usize = 80;
const NAME: usize = 96;
/// Where the channel starts in a named segment.
const CHANNEL: usize = 256;
/// The longest name, in bytes.
pub const MAX_NAME: usize = CHANNEL - NAME;
/// How long an open waits for a channel that another process is still laying out.
const READY_WAIT: Duration = Duration::from_secs(2);

/// What kind of channel a named segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A single-producer single-consumer byte channel ([`spsc`]).
    Spsc,
    /// A bounded multi-producer multi-consumer queue ([`mpmc`]).
    Mpmc,
    /// A publish-subscribe channel ([`pubsub`]).
    PubSub,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::Spsc => 1,
            Kind::Mpmc => 2,
            Kind::PubSub => 3,
        }
    }
    fn from_code(code: u32) -> Option<Kind> {
        match code {
            1 => Some(Kind::Spsc),
            2 => Some(Kind::Mpmc),
            3 => Some(Kind::PubSub),
            _ => None,
        }
    }
}

/// The 64-bit FNV-1a hash of `"shmkit.channel:"` followed by `name`: what a named
/// segment's name block records.
pub fn name_hash(name: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    b"shmkit.channel:"
        .iter()
        .chain(name.as_bytes())
        .fold(OFFSET_BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The System V key of the channel named `name`: [`name_hash`] folded to 32 bits, never
/// [`Key::PRIVATE`].
pub fn key_for(name: &str) -> Key {
    let h = name_hash(name);
    let folded = ((h >> 32) ^ (h & 0xffff_ffff)) as u32;
    Key::from_raw(if folded == 0 { 1 } else { folded as i32 })
}

fn layout() -> Layout {
    Layout {
        what: "channel name block",
        magic: MAGIC,
        size: CHANNEL,
        payload_size: CHANNEL - header::HEADER_SIZE,
        payload_align: 8,
        lock_size: 0,
    }
}

fn check_name(name: &str, call: &'static str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            call,
            format!("name={name:?}"),
            format!("a channel name has 1 to {MAX_NAME} bytes"),
        ));
    }
    Ok(())
}

/// A channel in a segment found by its name. Holds the segment's handle and one attachment;
/// the endpoints borrow it ([`sender`](NamedChannel::sender)) or take it
/// ([`into_sender`](NamedChannel::into_sender)). The segment outlives this handle: remove it
/// with [`remove`](NamedChannel::remove) (or a guard from
/// [`Segment::remove_on_drop`]) when the channel is no longer wanted.
pub struct NamedChannel {
    name: String,
    kind: Kind,
    segment: Segment,
    map: Attachment,
}

impl fmt::Debug for NamedChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedChannel")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("key", &self.segment.key())
            .field("id", &self.segment.id())
            .finish()
    }
}

/// Options for creating or opening a named channel; from [`NamedChannel::builder`].
#[derive(Debug, Clone)]
pub struct NamedBuilder {
    name: String,
    mode: u32,
    trust_other_owner: bool,
    channel: Option<Shape>,
}

impl NamedBuilder {
    /// The segment's permission bits when creating (default [`DEFAULT_MODE`], `0o600`):
    /// `0o660` lets the group's processes open the channel too.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Accepts an existing segment owned or created by another user (by default opening
    /// refuses it with [`ErrorKind::Squatting`], as [`SegmentBuilder`](crate::SegmentBuilder)
    /// does).
    pub fn trust_other_owner(mut self) -> Self {
        self.trust_other_owner = true;
        self
    }

    /// An SPSC channel with a ring of `capacity` bytes (see [`spsc::create_in`]).
    pub fn spsc(mut self, capacity: usize) -> Self {
        self.channel = Some(Shape::Spsc { capacity });
        self
    }

    /// A bounded MPMC queue of `capacity` messages of `message_size` bytes (see
    /// [`mpmc::create_in`]).
    pub fn mpmc(mut self, capacity: usize, message_size: usize) -> Self {
        self.channel = Some(Shape::Mpmc {
            capacity,
            message_size,
        });
        self
    }

    /// A publish-subscribe channel of `slots` slots of `slot_size` bytes (see
    /// [`pubsub::create_in`]).
    pub fn pubsub(mut self, slots: usize, slot_size: usize) -> Self {
        self.channel = Some(Shape::PubSub { slots, slot_size });
        self
    }

    fn wanted(&self, call: &'static str) -> Result<Shape> {
        self.channel.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                call,
                format!("name={:?}", self.name),
                "say which channel to create (for example .spsc(capacity))",
            )
        })
    }

    /// Creates the channel; fails if its key is taken ([`ErrorKind::AlreadyExists`] when
    /// by this name, [`ErrorKind::NameCollision`] when by another name).
    ///
    /// # Errors
    /// As above, [`ErrorKind::InvalidArgument`] for a bad name or capacity, and the errors of
    /// [`SegmentBuilder::create`](crate::SegmentBuilder::create).
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    pub fn create(self) -> Result<NamedChannel> {
        const CALL: &str = "NamedChannel::create";
        check_name(&self.name, CALL)?;
        let shape = self.wanted(CALL)?;
        let size = shape.size(CALL)?;
        let key = key_for(&self.name);
        let segment = match Segment::builder(key)
            .size(CHANNEL + size)
            .mode(self.mode)
            .create()
        {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // Say whose channel it is: this name's, or a colliding name's.
                return Err(match self.open_existing(CALL) {
                    Ok(_) => Error::new(
                        ErrorKind::AlreadyExists,
                        CALL,
                        format!("name={:?}, key={key}", self.name),
                        "a channel with this name exists",
                    ),
                    Err(other) => other,
                });
            }
            Err(e) => return Err(e.within(CALL, format!("name={:?}", self.name))),
        };
        match lay_out(&segment, &self.name, shape, size) {
            Ok(map) => Ok(NamedChannel {
                name: self.name,
                kind: shape.kind(),
                segment,
                map,
            }),
            Err(e) => {
                let _ = segment.remove();
                Err(e)
            }
        }
    }

    /// Opens the channel if it exists (of any capacity), or creates it.
    ///
    /// # Errors
    /// As [`create`](NamedBuilder::create) and [`open`](NamedBuilder::open).
    pub fn open_or_create(self) -> Result<NamedChannel> {
        const CALL: &str = "NamedChannel::open_or_create";
        check_name(&self.name, CALL)?;
        self.wanted(CALL)?;
        for _ in 0..16 {
            match self.clone().create() {
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                other => return other,
            }
            match self.open_existing(CALL) {
                Err(e) if e.kind() == ErrorKind::NotFound => {} // removed meanwhile: again
                other => return other,
            }
        }
        Err(Error::new(
            ErrorKind::Busy,
            CALL,
            format!("name={:?}", self.name),
            "the channel keeps appearing and vanishing",
        ))
    }

    /// Opens the existing channel.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when no segment has the name's key;
    /// [`ErrorKind::NameCollision`] when the segment holds another name's channel;
    /// [`ErrorKind::Squatting`] when another user owns it (unless
    /// [`trust_other_owner`](NamedBuilder::trust_other_owner));
    /// [`ErrorKind::NotInitialised`] when its creator did not finish laying it out within
    /// two seconds; [`ErrorKind::Corrupt`] or [`ErrorKind::LayoutMismatch`] for a bad name
    /// block; the errors of `shmget`, `shmat`.
    pub fn open(self) -> Result<NamedChannel> {
        const CALL: &str = "NamedChannel::open";
        check_name(&self.name, CALL)?;
        self.open_existing(CALL)
    }

    fn open_existing(&self, call: &'static str) -> Result<NamedChannel> {
        let key = key_for(&self.name);
        // The kernel's errors name the key only: say which channel it stands for.
        let named = |e: Error| e.within(call, format!("name={:?}", self.name));
        let segment = Segment::builder(key).open().map_err(named)?;
        let stat = segment.stat().map_err(named)?;
        let trust = crate::ipc::trust::Trust {
            owner: self.trust_other_owner,
            mode: true,
            size: true,
        };
        let existing = crate::ipc::trust::Existing {
            uid: stat.uid,
            cuid: stat.cuid,
            mode: stat.mode,
            size: None,
        };
        if let Some(reason) = trust.refusal(&existing, self.mode, 0) {
            return Err(Error::squatting(
                call,
                format!("name={:?}, key={key}", self.name),
                reason,
            ));
        }
        let map = segment.attach().map_err(named)?;
        let (kind, _) = read_name_block(map.region(), &self.name, key, call)?;
        if let Some(want) = self.channel.map(Shape::kind) {
            if want != kind {
                return Err(Error::new(
                    ErrorKind::LayoutMismatch,
                    call,
                    format!("name={:?}, key={key}", self.name),
                    format!("the channel is {kind:?}, not {want:?}"),
                ));
            }
        }
        Ok(NamedChannel {
            name: self.name.clone(),
            kind,
            segment,
            map,
        })
    }
}

/// The channel a builder creates.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Spsc {
        capacity: usize,
    },
    Mpmc {
        capacity: usize,
        message_size: usize,
    },
    PubSub {
        slots: usize,
        slot_size: usize,
    },
}

impl Shape {
    fn kind(self) -> Kind {
        match self {
            Shape::Spsc { .. } => Kind::Spsc,
            Shape::Mpmc { .. } => Kind::Mpmc,
            Shape::PubSub { .. } => Kind::PubSub,
        }
    }

    /// The bytes the channel takes; [`ErrorKind::InvalidArgument`] for a bad shape.
    fn size(self, call: &'static str) -> Result<usize> {
        let invalid = |what: String| {
            Err(Error::new(
                ErrorKind::InvalidArgument,
                call,
                String::new(),
                what,
            ))
        };
        match self {
            Shape::Spsc { capacity } => {
                if !capacity.is_power_of_two()
                    || !(spsc::MIN_CAPACITY..=spsc::MAX_CAPACITY).contains(&capacity)
                {
                    return invalid(format!(
                        "an SPSC capacity is a power of two from {} to {}, not {capacity}",
                        spsc::MIN_CAPACITY,
                        spsc::MAX_CAPACITY
                    ));
                }
                Ok(spsc::size_for(capacity))
            }
            Shape::Mpmc {
                capacity,
                message_size,
            } => {
                if !mpmc::valid(capacity, message_size) {
                    return invalid(format!(
                        "{capacity} messages of {message_size} bytes is not an MPMC shape (capacity: a power of two up to {}; message size: 1 to {})",
                        mpmc::MAX_CAPACITY,
                        mpmc::MAX_MESSAGE
                    ));
                }
                Ok(mpmc::size_for(capacity, message_size))
            }
            Shape::PubSub { slots, slot_size } => {
                if !pubsub::valid_shape(slots, slot_size) {
                    return invalid(format!(
                        "{slots} slots of {slot_size} bytes is not a pub-sub shape (slots: a power of two from {} to {}; slot size: a multiple of 8 up to {})",
                        pubsub::MIN_SLOTS,
                        pubsub::MAX_SLOTS,
                        pubsub::MAX_SLOT_SIZE
                    ));
                }
                Ok(pubsub::size_for(slots, slot_size))
            }
        }
    }

    fn create_in(self, region: &Region<ReadWrite>, offset: usize) -> Result<()> {
        match self {
            Shape::Spsc { capacity } => spsc::create_in(region, offset, capacity),
            Shape::Mpmc {
                capacity,
                message_size,
            } => mpmc::create_in(region, offset, capacity, message_size),
            Shape::PubSub { slots, slot_size } => {
                pubsub::create_in(region, offset, slots, slot_size)
            }
        }
    }
}

/// Writes the name block and the channel into a new segment.
fn lay_out(segment: &Segment, name: &str, shape: Shape, size: usize) -> Result<Attachment> {
    const CALL: &str = "NamedChannel::create";
    let map = segment.attach()?;
    let region = map.region();
    header::begin_create(region, 0, &layout(), CALL)?;
    let body = (|| {
        region
            .atomic_u64(HASH)?
            .store(name_hash(name), std::sync::atomic::Ordering::Relaxed);
        region
            .atomic_u32(KIND)?
            .store(shape.kind().code(), std::sync::atomic::Ordering::Relaxed);
        region
            .atomic_u32(NAME_LEN)?
            .store(name.len() as u32, std::sync::atomic::Ordering::Relaxed);
        region
            .atomic_u64(CHANNEL_SIZE)?
            .store(size as u64, std::sync::atomic::Ordering::Relaxed);
        region.write_at(NAME, name.as_bytes())?;
        shape.create_in(region, CHANNEL)
    })();
    if let Err(e) = body {
        header::abandon_create(region, 0);
        return Err(e);
    }
    // Release (inside): an opener that sees the block ready sees the name and the channel.
    header::finish_create(region, 0)?;
    Ok(map)
}

/// Validates the name block against `name` and returns the channel's kind and size.
fn read_name_block(
    region: &Region<ReadWrite>,
    name: &str,
    key: Key,
    call: &'static str,
) -> Result<(Kind, usize)> {
    let ctx = || format!("name={name:?}, key={key}");
    // A creator may still be laying the channel out: wait for it, boundedly.
    let start = Instant::now();
    loop {
        match header::open(region, 0, &layout(), call) {
            Err(e) if e.kind() == ErrorKind::NotInitialised && start.elapsed() < READY_WAIT => {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => break other?,
        }
    }
    let corrupt = |what: String| Error::new(ErrorKind::Corrupt, call, ctx(), what);
    // One load of each field; everything below looks at these copies.
    let hash = region.load_u64(HASH, std::sync::atomic::Ordering::Relaxed)?;
    let code = region.load_u32(KIND, std::sync::atomic::Ordering::Relaxed)?;
    let len = region.load_u32(NAME_LEN, std::sync::atomic::Ordering::Relaxed)? as usize;
    let size = region.load_u64(CHANNEL_SIZE, std::sync::atomic::Ordering::Relaxed)?;
    if len == 0 || len > MAX_NAME {
        return Err(corrupt(format!("a name length of {len} bytes")));
    }
    let mut stored = vec![0u8; len];
    region.read_at(NAME, &mut stored)?;
    let stored_name = String::from_utf8_lossy(&stored).into_owned();
    if name_hash(&stored_name) != hash || stored_name.len() != len {
        return Err(corrupt(format!(
            "the name block's hash {hash:#018x} does not match its name {stored_name:?}"
        )));
    }
    if stored != name.as_bytes() {
        return Err(Error::new(
            ErrorKind::NameCollision,
            call,
            ctx(),
            format!(
                "the key is taken by the channel named {stored_name:?} (hash {hash:#018x}; this name's is {:#018x})",
                name_hash(name)
            ),
        ));
    }
    let kind = Kind::from_code(code).ok_or_else(|| corrupt(format!("unknown kind {code}")))?;
    let room = region.len().saturating_sub(CHANNEL) as u64;
    if size > room {
        return Err(corrupt(format!(
            "a channel of {size} bytes in a segment with room for {room}"
        )));
    }
    Ok((kind, size as usize))
}

impl NamedChannel {
    /// Options for the channel named `name` (1 to [`MAX_NAME`] bytes of UTF-8).
    pub fn builder(name: &str) -> NamedBuilder {
        NamedBuilder {
            name: name.to_owned(),
            mode: DEFAULT_MODE,
            trust_other_owner: false,
            channel: None,
        }
    }

    /// Opens the existing channel named `name`, of whatever kind and capacity; see
    /// [`NamedBuilder::open`].
    ///
    /// # Errors
    /// As [`NamedBuilder::open`].
    pub fn open(name: &str) -> Result<NamedChannel> {
        NamedChannel::builder(name).open()
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The channel's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The segment (its key is [`key_for`]`(name)`).
    pub fn segment(&self) -> &Segment {
        &self.segment
    }

    /// The region holding the channel, which starts at [`offset`](NamedChannel::offset).
    pub fn region(&self) -> &Region<ReadWrite> {
        self.map.region()
    }

    /// Where the channel starts in the region.
    pub fn offset(&self) -> usize {
        CHANNEL
    }

    /// Removes the segment (`IPC_RMID`): attached processes keep using it; the name is free
    /// at once.
    ///
    /// # Errors
    /// As [`Segment::remove`].
    pub fn remove(&self) -> Result<()> {
        self.segment.remove()
    }

    fn expect(&self, kind: Kind, call: &'static str) -> Result<()> {
        if self.kind == kind {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::LayoutMismatch,
            call,
            format!("name={:?}", self.name),
            format!("the channel is {:?}, not {kind:?}", self.kind),
        ))
    }

    fn spsc(&self, call: &'static str) -> Result<()> {
        self.expect(Kind::Spsc, call)
    }

    /// A producer of the MPMC queue; see [`Producer::open_in`].
    ///
    /// # Errors
    /// As [`Producer::open_in`]; [`ErrorKind::LayoutMismatch`] for another kind of channel.
    pub fn producer(&self) -> Result<Producer<&Region<ReadWrite>>> {
        self.expect(Kind::Mpmc, "NamedChannel::producer")?;
        Producer::open_in(self.map.region(), CHANNEL)
    }

    /// A consumer of the MPMC queue; see [`Consumer::open_in`].
    ///
    /// # Errors
    /// As [`Consumer::open_in`]; [`ErrorKind::LayoutMismatch`] for another kind of channel.
    pub fn consumer(&self) -> Result<Consumer<&Region<ReadWrite>>> {
        self.expect(Kind::Mpmc, "NamedChannel::consumer")?;
        Consumer::open_in(self.map.region(), CHANNEL)
    }

    /// Becomes the pub-sub channel's publisher; see [`Publisher::open_in`].
    ///
    /// # Errors
    /// As [`Publisher::open_in`]; [`ErrorKind::LayoutMismatch`] for another kind of channel.
    pub fn publisher(&self) -> Result<Publisher<&Region<ReadWrite>>> {
        self.expect(Kind::PubSub, "NamedChannel::publisher")?;
        Publisher::open_in(self.map.region(), CHANNEL)
    }

    /// Subscribes to the pub-sub channel from the next message; see
    /// [`Subscriber::open_in`]. (A named channel is attached read-write, so the subscriber can
    /// also block.)
    ///
    /// # Errors
    /// As [`Subscriber::open_in`]; [`ErrorKind::LayoutMismatch`] for another kind of channel.
    pub fn subscriber(&self) -> Result<Subscriber<&Region<ReadWrite>, ReadWrite>> {
        self.expect(Kind::PubSub, "NamedChannel::subscriber")?;
        Subscriber::open_in(self.map.region(), CHANNEL)
    }

    /// Becomes the SPSC channel's sender; see [`Sender::open_in`].
    ///
    /// # Errors
    /// As [`Sender::open_in`]; [`ErrorKind::LayoutMismatch`] for another kind of channel.
    pub fn sender(&self) -> Result<Sender<&Region<ReadWrite>>> {
        self.spsc("NamedChannel::sender")?;
        Sender::open_in(self.map.region(), CHANNEL)
    }

    /// Becomes the SPSC channel's receiver; see [`Receiver::open_in`].
    ///
    /// # Errors
    /// As [`NamedChannel::sender`].
    pub fn receiver(&self) -> Result<Receiver<&Region<ReadWrite>>> {
        self.spsc("NamedChannel::receiver")?;
        Receiver::open_in(self.map.region(), CHANNEL)
    }

    /// As [`sender`](NamedChannel::sender), taking the attachment along.
    ///
    /// # Errors
    /// As [`NamedChannel::sender`].
    pub fn into_sender(self) -> Result<Sender<Attachment>> {
        self.spsc("NamedChannel::into_sender")?;
        Sender::open_in(self.map, CHANNEL)
    }

    /// As [`receiver`](NamedChannel::receiver), taking the attachment along.
    ///
    /// # Errors
    /// As [`NamedChannel::sender`].
    pub fn into_receiver(self) -> Result<Receiver<Attachment>> {
        self.spsc("NamedChannel::into_receiver")?;
        Receiver::open_in(self.map, CHANNEL)
    }
}
