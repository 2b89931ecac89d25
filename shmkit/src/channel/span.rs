//! A message's bytes inside a channel: the one place that checks an access against a
//! message's length and copies in or out, shared by every kind's loan (spsc
//! [`Loan`](super::Loan), [`mpmc::Loan`](super::mpmc::Loan),
//! [`pubsub::Loan`](super::pubsub::Loan)) and every message read in place (spsc
//! [`Received`](super::Received), [`mpmc::Received`](super::mpmc::Received),
//! [`pubsub::Sample`](super::pubsub::Sample)).
//!
//! What differs between the kinds stays in their files: where the bytes are (a record in a
//! ring, a slot), what a commit or a release does, and a sample's stamp check.

use crate::error::{Error, ErrorKind, Result};
use crate::region::{Access, ReadWrite, Region};

/// Checks that `len` bytes at `offset` of a message of `size` bytes are inside it:
/// [`ErrorKind::OutOfBounds`] from `call` otherwise.
#[inline]
pub(crate) fn within(offset: usize, len: usize, size: usize, call: &'static str) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::new(
            ErrorKind::OutOfBounds,
            call,
            format!("offset={offset}, len={len}"),
            format!("past the end of a message of {size} bytes"),
        )),
    }
}

/// A message's bytes: `len` bytes from offset `at` of a region. Built by a channel only
/// for a span it checked to lie inside itself (so inside the region).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// Offset of the message's first byte in the region.
    pub(crate) at: usize,
    /// The message's length.
    pub(crate) len: usize,
}

impl Span {
    /// Copies `bytes` into the message at `offset` (byte-wise atomic stores);
    /// [`ErrorKind::OutOfBounds`] past its length.
    #[inline]
    pub(crate) fn write_at(
        self,
        region: &Region<ReadWrite>,
        offset: usize,
        bytes: &[u8],
        call: &'static str,
    ) -> Result<()> {
        within(offset, bytes.len(), self.len, call)?;
        region.write_at(self.at + offset, bytes)
    }

    /// Copies message bytes from `offset` into `buf` (byte-wise atomic loads);
    /// [`ErrorKind::OutOfBounds`] past its length.
    #[inline]
    pub(crate) fn read_at<A: Access>(
        self,
        region: &Region<A>,
        offset: usize,
        buf: &mut [u8],
        call: &'static str,
    ) -> Result<()> {
        within(offset, buf.len(), self.len, call)?;
        region.read_at(self.at + offset, buf)
    }

    /// Replaces `buf`'s contents with the message. No clear first: the bytes the buffer
    /// holds are overwritten, so only growth is zeroed (a buffer reused for messages of
    /// one size is never zeroed again).
    #[inline]
    pub(crate) fn copy_into<A: Access>(
        self,
        region: &Region<A>,
        buf: &mut Vec<u8>,
        call: &'static str,
    ) -> Result<()> {
        buf.resize(self.len, 0);
        self.read_at(region, 0, buf, call)
    }

    /// The message's bytes in place.
    ///
    /// # Safety
    /// The span lies inside `region` (as every channel checks before it builds one), and
    /// no process writes these bytes while the slice lives.
    pub(crate) unsafe fn as_slice<A: Access>(self, region: &Region<A>) -> &[u8] {
        // SAFETY: in bounds and unwritten while borrowed, as the caller promises.
        unsafe { std::slice::from_raw_parts(region.as_ptr().add(self.at), self.len) }
    }

    /// The message's bytes in place, writable.
    ///
    /// # Safety
    /// The span lies inside `region`, the caller holds the loan of these bytes exclusively
    /// (a `&mut` borrow of its endpoint), and no other process reads or writes them while
    /// the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn as_mut_slice(self, region: &Region<ReadWrite>) -> &mut [u8] {
        // SAFETY: in bounds, and exclusive while borrowed, as the caller promises.
        unsafe { std::slice::from_raw_parts_mut(region.as_mut_ptr().add(self.at), self.len) }
    }
}
