//! The conveniences that attach a segment for a structure and lay it out (or open it) at the
//! segment's start: the structure then owns its [`Attachment`].
//!
//! The only part of [`sync`](super) that knows about segments: the algorithms (`mutex.rs`,
//! `seqlock.rs`, `condvar.rs`, `robust/`) work on any [`Region`](crate::Region) and import
//! no `shm`; their `R = Attachment` type defaults only name the holder these constructors
//! give them.

use super::mutex::RobustMutex;
use super::seqlock::SeqLock;
use crate::error::Result;
use crate::layout::ShmSafe;
use crate::shm::Segment;
use crate::Attachment;

impl<T: ShmSafe> RobustMutex<T, Attachment> {
    /// Attaches `segment` and lays out a new mutex holding `value` at its start: the
    /// mutex owns the attachment.
    ///
    /// # Errors
    /// As [`Segment::attach`] and [`create_in`](RobustMutex::create_in).
    pub fn create(segment: &Segment, value: T) -> Result<Self> {
        Self::create_in(segment.attach()?, 0, value)
    }

    /// Attaches `segment` and opens the mutex at its start.
    ///
    /// # Errors
    /// As [`Segment::attach`] and [`open_in`](RobustMutex::open_in).
    pub fn open(segment: &Segment) -> Result<Self> {
        Self::open_in(segment.attach()?, 0)
    }
}

impl<T: ShmSafe> SeqLock<T, Attachment> {
    /// Attaches `segment` and lays out a new seqlock holding `value` at its start.
    ///
    /// # Errors
    /// As [`Segment::attach`] and [`create_in`](SeqLock::create_in).
    pub fn create(segment: &Segment, value: T) -> Result<Self> {
        Self::create_in(segment.attach()?, 0, value)
    }

    /// Attaches `segment` and opens the seqlock at its start.
    ///
    /// # Errors
    /// As [`Segment::attach`] and [`open_in`](SeqLock::open_in).
    pub fn open(segment: &Segment) -> Result<Self> {
        Self::open_in(segment.attach()?, 0)
    }
}
