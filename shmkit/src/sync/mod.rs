//! Synchronisation that lives inside a segment and survives peers killed with `SIGKILL`.
//!
//! - [`RobustMutex`]: a mutex guarding a `T`, a robust, process-shared `pthread_mutex_t`
//!   ([`pthread_mutexattr_setrobust(3)`], [`pthread_mutex_consistent(3)`]) locked through
//!   glibc's own protocol, re-implemented so that nothing another process writes into it
//!   can crash or hang the caller.
//!   When the holder dies, the next locker gets [`LockError::OwnerDied`] *with the guard*,
//!   repairs the data and calls [`MutexGuard::mark_consistent`].
//! - [`Condvar`] and [`Event`]: waiting on futex sequence counters ([`futex(2)`], shared, not
//!   `FUTEX_PRIVATE_FLAG`). Waiters keep no state in the segment, so killing one at any point
//!   cannot break them (glibc's process-shared `pthread_cond_t` can deadlock for good when
//!   waiters are killed, which is why it is not used).
//! - [`SeqLock`]: one writer, many readers; readers copy the value with byte-wise atomic loads
//!   and retry when a write overlapped, so they never see a torn value; when the writer died
//!   mid-write they get [`ErrorKind::WriterDied`](crate::ErrorKind::WriterDied) instead of
//!   spinning forever.
//!
//! Every structure starts with a 64-byte header (magic, layout version, sizes, an init state
//! word that goes uninit → initialising → ready by compare-and-swap, the creator's pid and pid
//! namespace). `create_in(region, offset, ..)` lays one out at a 64-byte-aligned offset of a
//! [`Region`]; `open_in(region, offset)` validates the header and the bounds and refuses a
//! structure made in another pid namespace
//! ([`ErrorKind::ForeignNamespace`](crate::ErrorKind::ForeignNamespace)): robust locks record
//! thread ids, which mean other threads there.
//!
//! The structures hold their region: `R` is `&Region` (borrowed from an
//! [`Attachment`](crate::Attachment)) or an owned [`Attachment`](crate::Attachment). A guard
//! borrows its mutex, which holds the region, so a segment cannot be detached while this
//! process holds a lock in it: the kernel would never release such a lock, and might later
//! write into whatever got mapped at that address. If a guard is leaked with
//! `std::mem::forget`, the region is marked when the mutex handle goes away
//! ([`Region::locks_held`](crate::Region::locks_held)), and an attachment so marked refuses
//! to detach and leaks its mapping instead.
//!
//! ```
//! use shmkit::sync::{Condvar, LockError, RobustMutex};
//! use shmkit::{Key, Segment};
//!
//! let segment = Segment::create(Key::PRIVATE, 4096)?.remove_on_drop();
//! let map = segment.attach()?;
//! let counter = RobustMutex::create_in(map.region(), 0, 0u64)?;
//! let ready = Condvar::create_in(map.region(), RobustMutex::<u64>::SIZE)?;
//!
//! // In any process that attached the segment:
//! let mut guard = match counter.lock() {
//!     Ok(guard) => guard,
//!     Err(LockError::OwnerDied(mut guard)) => {
//!         // The last holder died inside its critical section: repair, then say so.
//!         *guard = 0;
//!         guard.mark_consistent()?;
//!         guard
//!     }
//!     Err(LockError::Failed(e)) => return Err(e),
//! };
//! *guard += 1;
//! drop(guard);
//! ready.notify_all()?;
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! ## Layers
//! The algorithms work on any [`Region`]: a raw robust lock (`robust/`, the only code that
//! touches glibc's mutex words) with [`RobustMutex`] and [`SeqLock`] as typed fronts over it,
//! and the futex counters of [`Condvar`] and [`Event`]; they lay their structures out with
//! the in-segment layer's header. The constructors that attach a segment for a structure
//! (`RobustMutex::create`, `SeqLock::create`, ...) are a separate thin layer
//! (`in_segment.rs`), the only part of this module that uses `shm`.
//!
//! ## Hostile peers
//! Every value read from the segment after opening is either compared (header fields) or used
//! as a number (sequence counters), never as an index, a length or a pointer, so a peer that
//! scribbles over the headers, sequence words or lock words makes operations fail with
//! errors (or wait, as a peer holding the lock would), never read or write outside the
//! segment. The robust `pthread_mutex_t` inside [`RobustMutex`] and [`SeqLock`] is laid out
//! and initialised by glibc, but locked and unlocked by shmkit's own implementation of
//! glibc's robust-mutex protocol, which validates every word it loads and never follows a
//! pointer read from the segment: a scribble, also one racing a call, gives
//! [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) or another typed outcome, never a crash,
//! and timed locks return by their deadline. What a peer can still do is listed under
//! [Hostile peers](RobustMutex#hostile-peers).
//!
//! [`Region`]: crate::Region
//! [`pthread_mutexattr_setrobust(3)`]: https://man7.org/linux/man-pages/man3/pthread_mutexattr_setrobust.3.html
//! [`pthread_mutex_consistent(3)`]: https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html
//! [`futex(2)`]: https://man7.org/linux/man-pages/man2/futex.2.html
#![allow(unsafe_code)]

mod condvar;
mod in_segment;
mod mutex;
mod robust;
mod seqlock;

pub use crate::layout::ShmSafe;
pub use condvar::{Condvar, Event, EventToken, WaitTimeoutResult};
pub use mutex::{LockError, MutexGuard, RobustMutex};
pub use seqlock::SeqLock;
