//! # shmkit: System V shared memory for Rust, done right
//!
//! The System V programming model, safely: a [`Key`] names a segment system-wide; a
//! process creates or opens it ([`Segment`], `shmget`), attaches it ([`Attachment`],
//! `shmat`), uses the memory through a bounds-checked [`Region`], detaches it (drop,
//! `shmdt`), and removes it ([`Segment::remove`], `shmctl(IPC_RMID)`). Keys from
//! [`Key::ftok`] are bit-identical to glibc's, so C, C++ and Python programs that use the
//! same path and project id meet the same segment.
//!
//! ```
//! use shmkit::{Key, Segment};
//!
//! let dir = std::env::temp_dir();
//! let key = Key::ftok(&dir, i32::from(b'D'))?;             // the name both sides agree on
//! # let key = Key::PRIVATE; // doctests run in parallel: don't fight over one key
//! let segment = Segment::builder(key).size(4096).mode(0o600).create()?; // shmget
//! let writer = segment.attach()?;                           // shmat
//! writer.write_at(0, b"hello, shared memory")?;             // use it
//!
//! let reader = segment.attach_read_only()?;                 // another attachment
//! let mut buf = [0u8; 20];
//! reader.read_at(0, &mut buf)?;
//! assert_eq!(&buf, b"hello, shared memory");
//!
//! segment.remove()?;                                        // shmctl(IPC_RMID): now `dest`
//! assert!(segment.stat()?.dest);                            // still attached, still usable
//! drop((writer, reader));                                   // shmdt, and the kernel frees it
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! ## Memory another process can write
//! Safe code never gets `&[u8]` over a segment: another process may write any byte at any
//! time, and a reference to memory that changes under it is undefined behaviour. Bytes are
//! copied in and out ([`Region::read_at`], [`Region::write_at`]) with atomic byte-wise
//! copies, and words processes synchronise on are reached as atomics
//! ([`Region::atomic_u32`], [`Region::atomic_u64`]). [`Region::as_slice`] is the `unsafe`
//! escape hatch for a caller who can promise that nobody writes.
//!
//! ## Modules
//! - [`key`]: keys and `ftok`.
//! - [`shm`]: segments, attachments, stat, set, lock, remove.
//! - [`region`]: the memory access rules.
//! - [`sem`]: System V semaphore sets (`semget`, `semop`, `semtimedop`, `semctl`) and
//!   `SemLock`, a lock the kernel releases when its holder dies (`SEM_UNDO`).
//! - [`msg`]: System V message queues (`msgget`, `msgsnd`, `msgrcv`, `msgctl`).
//! - [`info`]: every segment, semaphore set and queue on the system, the limits, the usage
//!   (each facility owns its listing; `info` gathers them).
//! - [`sync`]: a robust mutex, a condition variable, an event and a seqlock that live
//!   inside a segment and survive peers killed with `SIGKILL`.
//! - [`channel`]: channels in a segment: a zero-copy single-producer single-consumer ring
//!   of byte messages ([`channel::spsc`]), a bounded multi-producer multi-consumer queue
//!   ([`channel::mpmc`]), publish-subscribe ([`channel::pubsub`]) and channels found by
//!   name ([`channel::named`]); busy-poll, blocking and adaptive waits, peer-death detection.
//!
//! Every structure shmkit lays out inside a segment treats what other processes write
//! there as untrusted: a scribbled word gives an error (`ErrorKind::Corrupt` and others),
//! never an out-of-bounds access, a panic, an abort or a wait past its deadline (see
//! `tests/hostile_soak.rs`, and the `# Hostile peers` section of [`sync::RobustMutex`] for
//! what a peer can still do).
//! - [`error`]: the one error type.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod channel;
pub mod error;
pub mod info;
mod ipc;
pub mod key;
mod layout;
pub mod msg;
mod primitive;
pub mod region;
pub mod sem;
pub mod shm;
pub mod sync;
mod sys;

pub use error::{Error, ErrorKind, Result, Squatting};
pub use ipc::{Identity, Removable, RemoveOnDrop};
pub use key::{Key, ParseKeyError};
pub use msg::{Message, MessageQueue, MessageQueueBuilder, MsgId, MsgStat, RecvOptions, Selector};
pub use region::{Access, ReadOnly, ReadWrite, Region};
pub use sem::{SemId, SemLock, SemLockGuard, SemOp, SemStat, SemaphoreSet, SemaphoreSetBuilder};
pub use shm::{
    AttachOptions, Attachment, HugePageSize, Segment, SegmentBuilder, SegmentStat, ShmId,
    DEFAULT_MODE,
};
pub use sys::conv::Errno;
