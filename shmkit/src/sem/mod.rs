//! System V semaphore sets: create or open by key, apply batches of operations atomically
//! (with `SEM_UNDO`, no-wait, timeouts), read and set values, stat, remove; and [`SemLock`],
//! a cross-process lock that the kernel releases when its holder dies.
//!
//! ```
//! use shmkit::{Key, SemOp, SemaphoreSet};
//!
//! let set = SemaphoreSet::create(Key::PRIVATE, 2)?.remove_on_drop();
//! set.set_value(0, 1)?;
//! set.op(&[SemOp::new(0, -1).undo(), SemOp::new(1, 1)])?; // both, atomically
//! assert_eq!(set.values()?, vec![0, 1]);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # References
//! - [`semget(2)`](https://man7.org/linux/man-pages/man2/semget.2.html)
//! - [`semop(2)`](https://man7.org/linux/man-pages/man2/semop.2.html)
//! - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html)
//!
//! The listing of every set, the limits and the usage are in [`info`](crate::info).

pub(crate) mod limits;
pub(crate) mod list;
mod lock;
mod op;
mod set;
mod stat;

pub use lock::{SemLock, SemLockGuard};
pub use op::SemOp;
pub use set::{SemaphoreSet, SemaphoreSetBuilder};
pub use stat::{SemId, SemStat};
