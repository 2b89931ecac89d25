//! Channels that live inside a segment.
//!
//! - [`spsc`]: one sender, one receiver, variable-length byte messages in a ring, written
//!   and read in place ([`Sender::loan`], [`Receiver::recv_ref`]) or copied
//!   ([`Sender::try_send`], [`Receiver::recv`]); [`TypedSender`] and [`TypedReceiver`] carry
//!   values of a [`ShmSafe`](crate::sync::ShmSafe) type instead.
//! - [`named`]: channels found by a name instead of a key: the key derives from the name,
//!   and the segment records the name, so two names whose keys collide are detected
//!   ([`ErrorKind::NameCollision`](crate::ErrorKind::NameCollision)).
//! - [`mpmc`]: any number of producers and consumers in any processes, fixed-size messages
//!   in a bounded array of slots (Vyukov's queue), with repair of slots that a killed
//!   process left claimed.
//! - [`Wait`]: how a receiver waits for a message: busy-polling, blocking on a futex in the
//!   segment ([`futex(2)`], shared, not `FUTEX_PRIVATE_FLAG`), or spinning a bounded number of
//!   times and then blocking. The sender makes the wake-up system call only when the receiver
//!   has announced that it is parked.
//! - [`pubsub`]: one publisher, any number of subscribers (read-only attachments too),
//!   fixed-size slots validated by seqlock stamps; the publisher never waits, and a
//!   subscriber that falls a lap behind learns how many messages it lost.
//!
//! Each endpoint records its pid in the segment; the channel's header records the creator's
//! pid namespace and opening refuses a channel made in another one, so the pids mean the same
//! processes to both sides. A receiver waiting on an empty ring checks with
//! [`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html) (signal 0) whether the
//! sender still exists, and fails with [`ErrorKind::PeerDied`](crate::ErrorKind::PeerDied)
//! once everything the dead sender committed has been received. A new process can then
//! open the sender's end and carry on.
//!
//! The check has the limits of `kill(pid, 0)`: a killed process that its parent has not
//! reaped yet (a zombie) still exists, so the receiver sees the death once it is reaped; and
//! a pid the kernel has already given to a new process looks alive. A sender that closes its
//! end cleanly (drop) frees its slot: an empty ring with no sender attached is not a death,
//! and a receive waits (or times out) until a new sender commits.
//!
//! ## Structure
//! Each kind keeps its pure atomic protocol steps (the index and stamp steps, no system
//! calls, no errors built) in its own `steps` module, and the parking (`wait::steps`) and
//! endpoint (`endpoint::steps`) steps are shared; all are generic over
//! `crate::primitive::Word`, so the loom models in `tests/loom_*.rs` run the shipped steps
//! on loom's atomics. What every kind shares lives once: the send errors (`error.rs`), the
//! bounds-checked copies of a message's bytes (`span.rs`), the wait loop and the end of its
//! checks (`wait.rs`), the typed fronts' checks (`typed.rs`).
//!
//! ## Hostile peers
//! Every index and length read from the segment is loaded once into a local and checked
//! before use: a peer that scribbles over the ring can make receives return
//! [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) errors or garbage bytes, never read or
//! write outside the channel, panic, or wait forever.
//!
//! ```
//! use shmkit::channel::{spsc, Receiver, Sender};
//! use shmkit::Segment;
//!
//! let segment = Segment::create(shmkit::Key::PRIVATE, spsc::size_for(4096))?.remove_on_drop();
//! let map = segment.attach()?;
//! spsc::create_in(map.region(), 0, 4096)?;
//! let mut tx = Sender::open_in(map.region(), 0)?;      // in the producer process
//! let mut rx = Receiver::open_in(map.region(), 0)?;    // in the consumer process
//!
//! let mut loan = tx.loan(5)?;                          // zero-copy: write in place
//! loan.write_at(0, b"hello")?;
//! loan.commit();
//! tx.try_send(b"world").map_err(|e| e.into_error())?; // or copy
//!
//! let msg = rx.recv_ref()?;                            // read in place
//! assert_eq!(msg.to_vec()?, b"hello");
//! drop(msg);                                           // releases the space
//! let mut buf = Vec::new();
//! rx.recv(&mut buf)?;
//! assert_eq!(buf, b"world");
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! [`futex(2)`]: https://man7.org/linux/man-pages/man2/futex.2.html
#![allow(unsafe_code)]

pub(crate) mod endpoint;
mod error;
pub mod mpmc;
pub mod named;
pub mod pubsub;
mod span;
pub mod spsc;
mod typed;
pub(crate) mod wait;

pub use error::{TrySendError, TypedSendError};

/// The pure protocol steps of the channels and the atomic-word trait they are generic
/// over, for the loom models in `tests/loom_*.rs` only (`cfg(loom)`): not part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::primitive::Word;
    /// `endpoint::steps`: an endpoint's pid slot.
    pub mod endpoint {
        pub use crate::channel::endpoint::steps::*;
    }
    /// `wait::steps`: the parking protocol.
    pub mod wait {
        pub use crate::channel::wait::steps::*;
    }
    /// `spsc::steps`: the SPSC ring.
    pub mod spsc {
        pub use crate::channel::spsc::steps::*;
    }
    /// `mpmc::steps`: the MPMC queue.
    pub mod mpmc {
        pub use crate::channel::mpmc::steps::*;
    }
    /// `pubsub::steps`: the pub-sub slots.
    pub mod pubsub {
        pub use crate::channel::pubsub::steps::*;
    }
}
pub use spsc::{Loan, Received, Receiver, Sender};
pub use typed::{TypedReceiver, TypedSender};
pub use wait::Wait;
