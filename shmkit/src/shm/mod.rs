//! System V shared-memory segments: create or open by key, attach, stat, set, lock, remove.
//!
//! The model, as `shmget(2)` describes it: a [`Key`](crate::Key) names a segment
//! system-wide; creating or opening gives a [`Segment`] (the kernel's id); attaching maps it
//! into this process as an [`Attachment`], which derefs to a bounds-checked
//! [`Region`](crate::Region); dropping the attachment detaches it; [`Segment::remove`]
//! destroys the segment once the last process detaches.
//!
//! ```
//! use shmkit::{Key, Segment};
//!
//! let seg = Segment::builder(Key::PRIVATE).size(4096).create()?.remove_on_drop();
//! let map = seg.attach()?;
//! map.write_at(0, b"hello")?;
//! let mut buf = [0u8; 5];
//! map.read_at(0, &mut buf)?;
//! assert_eq!(&buf, b"hello");
//! assert_eq!(seg.stat()?.nattch, 1);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! The listing of every segment, the limits and the usage are in [`info`](crate::info).

mod attachment;
pub(crate) mod limits;
pub(crate) mod list;
mod segment;
mod stat;

pub use crate::ipc::DEFAULT_MODE;
pub use attachment::{AttachOptions, Attachment};
pub use segment::{HugePageSize, Segment, SegmentBuilder};
pub use stat::{SegmentStat, ShmId};
