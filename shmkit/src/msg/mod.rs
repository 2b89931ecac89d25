//! System V message queues: create or open by key, send typed messages, receive by
//! selector (any, exactly a type, the lowest type up to n, any but a type), peek without
//! removing, stat, change the byte limit, remove.
//!
//! ```
//! use shmkit::{Key, MessageQueue, Selector};
//!
//! let queue = MessageQueue::create(Key::PRIVATE)?.remove_on_drop();
//! queue.send(2, b"second")?;
//! queue.send(1, b"first")?;
//! let mut buf = [0u8; 64];
//! let (mtype, len) = queue.recv(Selector::UpTo(5), &mut buf)?; // lowest type first
//! assert_eq!((mtype, &buf[..len]), (1, &b"first"[..]));
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # References
//! - [`msgget(2)`](https://man7.org/linux/man-pages/man2/msgget.2.html)
//! - [`msgop(2)`](https://man7.org/linux/man-pages/man2/msgop.2.html)
//! - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html)
//!
//! The listing of every queue, the limits and the usage are in [`info`](crate::info).

pub(crate) mod limits;
pub(crate) mod list;
mod message;
mod queue;
mod stat;

pub use message::{Message, RecvOptions, Selector};
pub use queue::{MessageQueue, MessageQueueBuilder};
pub use stat::{MsgId, MsgStat};
