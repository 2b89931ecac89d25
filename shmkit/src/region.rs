//! [`Region`]: a mapped, bounds-checked span of shared memory.
//!
//! Another process can write any byte of a region at any time, so this module never hands
//! out `&[u8]` or `&T` over it in safe code. Bytes are *copied* in and out with atomic
//! (relaxed) loads and stores, in the spirit of the C++ proposal
//! [P1478](https://www.open-std.org/jtc1/sc22/wg21/docs/papers/2019/p1478r1.html) ("byte-wise
//! atomic memcpy"): a concurrent writer can make a read return a mix of old and new bytes, never
//! undefined behaviour. Words that processes synchronise on are reached through aligned
//! atomic views ([`Region::atomic_u32`], [`Region::atomic_u64`]).
//!
//! Sizes: a copy is made of pointer-sized atomic words where the range is aligned and single
//! atomic bytes at its ends, while the atomic views are 4 or 8 bytes wide, so accesses of
//! different sizes may overlap. Rust's memory model leaves racing mixed-size atomics
//! undefined, but the memory is shared with other processes (C, Python, other Rust builds)
//! that are outside any one program's abstract machine anyway; what holds is the hardware's
//! model, under which every such access is single-copy atomic at its own size. This is the
//! same choice as the `atomic-memcpy` crate (P1478). Byte-only copies would avoid the
//! question at eight times the cost.
//!
//! Read-only mappings: only `Relaxed` atomic loads of at most pointer size are made on them,
//! which std documents as allowed on read-only memory ("Atomic accesses to read-only
//! memory" in `std::sync::atomic`); stronger orderings are provided by a fence after the
//! load.
//!
//! Ordering: the copies are `Relaxed`. To publish data, write it with [`Region::write_at`]
//! and then store a flag or index with `Release` through an atomic view; the reader loads
//! the flag with `Acquire` and then calls [`Region::read_at`].
#![allow(unsafe_code)]

use crate::error::{Error, ErrorKind, Result};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

mod sealed {
    pub trait Sealed {}
}

/// How a region may be accessed: [`ReadWrite`] or [`ReadOnly`]. Sealed.
pub trait Access: sealed::Sealed + Send + Sync + 'static {
    /// Whether the mapping can be written.
    const WRITABLE: bool;
}

/// The region is mapped read-write: every method is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadWrite {}

/// The region is mapped read-only (`SHM_RDONLY`): the methods that write do not exist, so
/// writing through this API is a compile error (writing through a raw pointer would raise
/// `SIGSEGV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOnly {}

impl sealed::Sealed for ReadWrite {}
impl sealed::Sealed for ReadOnly {}
impl Access for ReadWrite {
    const WRITABLE: bool = true;
}
impl Access for ReadOnly {
    const WRITABLE: bool = false;
}

/// A span of shared memory, mapped in this process: `len` bytes from a base address.
///
/// A `Region` is borrowed from the value that owns the mapping (an
/// [`Attachment`](crate::Attachment) derefs to one), so it cannot outlive the mapping.
/// It is neither `Clone` nor `Copy` for the same reason.
///
/// Every method is bounds-checked and returns [`ErrorKind::OutOfBounds`] or
/// [`ErrorKind::Misaligned`] instead of panicking.
pub struct Region<A: Access = ReadWrite> {
    base: NonNull<u8>,
    len: usize,
    /// Pins: things in this process that point into the mapping for good and forbid
    /// unmapping it (see [`Region::pins`]).
    pins: AtomicUsize,
    access: PhantomData<A>,
}

// SAFETY: a Region is a base address and a length; every access through it is atomic (or
// unsafe, with the caller taking responsibility), so sharing or sending it between threads
// cannot cause a data race that the same code between processes would not.
unsafe impl<A: Access> Send for Region<A> {}
// SAFETY: as above: `&Region` only allows atomic accesses.
unsafe impl<A: Access> Sync for Region<A> {}

impl<A: Access> std::fmt::Debug for Region<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("base", &self.base)
            .field("len", &self.len)
            .field("writable", &A::WRITABLE)
            .finish()
    }
}

const WORD: usize = std::mem::size_of::<usize>();

impl<A: Access> Region<A> {
    /// A region over `len` bytes at `base`.
    ///
    /// # Safety
    /// For as long as the returned value (and every borrow of it) lives, `base..base+len`
    /// must stay mapped, readable, and writable too when `A` is [`ReadWrite`]. The memory may
    /// be written by other processes at any time; nothing in this process may hold a Rust
    /// reference to it other than through this region.
    pub unsafe fn from_raw_parts(base: NonNull<u8>, len: usize) -> Region<A> {
        Region {
            base,
            len,
            pins: AtomicUsize::new(0),
            access: PhantomData,
        }
    }

    /// How many pins the region holds: things in this process that keep pointing into the
    /// mapping for as long as the process lives, so that it must never be unmapped (the
    /// memory could be reused for something else, and they would then write into it).
    ///
    /// A pin is never taken back. Today the only pins are robust locks (see
    /// [`crate::sync`]) left held in the region by leaked guards (`std::mem::forget`): the
    /// kernel's robust-futex list of the locking thread points into the mapping, and the
    /// kernel writes there when that thread exits. An [`Attachment`](crate::Attachment)
    /// with pins refuses to detach (and leaks the mapping when dropped).
    pub fn pins(&self) -> usize {
        self.pins.load(Ordering::Acquire)
    }

    /// How many robust locks (see [`crate::sync`]) were left held in the region by leaked
    /// guards (`std::mem::forget`). While it is not zero the mapping must not be unmapped:
    /// the kernel's robust-futex list of the locking thread points into it, and the kernel
    /// writes there when that thread exits. An [`Attachment`](crate::Attachment) then refuses
    /// to detach (and leaks the mapping when dropped).
    ///
    /// The same count as [`Region::pins`]: leaked robust locks are the only pins there are.
    pub fn locks_held(&self) -> usize {
        self.pins()
    }

    /// Pins the mapping for good: something in this process keeps pointing into it (a
    /// robust lock left held by a leaked guard). See [`Region::pins`].
    pub(crate) fn pin(&self) {
        self.pins.fetch_add(1, Ordering::AcqRel);
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The base address. Using it is `unsafe`; holding it is not.
    pub fn as_ptr(&self) -> *const u8 {
        self.base.as_ptr()
    }

    /// Checks that `offset..offset+len` lies inside the region.
    pub fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::new(
                ErrorKind::OutOfBounds,
                "region access",
                format!("offset={offset}, len={len}"),
                format!("past the end of a region of {} bytes", self.len),
            )),
        }
    }

    fn check_aligned(&self, offset: usize, size: usize, align: usize) -> Result<()> {
        self.check_range(offset, size)?;
        if (self.base.as_ptr() as usize).wrapping_add(offset) % align != 0 {
            return Err(Error::new(
                ErrorKind::Misaligned,
                "region atomic view",
                format!("offset={offset}, size={size}"),
                format!("address is not aligned to {align} bytes"),
            ));
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes starting at `offset` into `buf`.
    ///
    /// The copy is made of relaxed atomic loads, so a concurrent writer in another process
    /// can make `buf` hold a mix of old and new bytes; it is never undefined behaviour.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] if the range does not fit; `buf` is then untouched.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check_range(offset, buf.len())?;
        // SAFETY: the range was just checked to lie inside the region, which the
        // constructor's contract keeps mapped and readable while `self` is borrowed; `buf`
        // has room for `buf.len()` bytes and, borrowed mutably, does not overlap it.
        unsafe { atomic_load_bytes(self.base.as_ptr().add(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Reads `len` bytes at `offset` into a new vector.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] if the range does not fit.
    pub fn read_vec(&self, offset: usize, len: usize) -> Result<Vec<u8>> {
        self.check_range(offset, len)?;
        let mut buf = vec![0; len];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Loads the `u32` at `offset` atomically: a `Relaxed` load followed by a fence of
    /// `order` (`Acquire` or `SeqCst`; `Release` and `AcqRel` are not load orderings and
    /// are treated as `Relaxed` and `Acquire`). Works on read-only regions too.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`], or [`ErrorKind::Misaligned`] if `offset` is not 4-aligned.
    pub fn load_u32(&self, offset: usize, order: Ordering) -> Result<u32> {
        self.check_aligned(offset, 4, 4)?;
        // SAFETY: in bounds and aligned (checked). Only a Relaxed load of 4 bytes is made,
        // which std allows on read-only memory.
        let value = unsafe { self.atomic_u32_unchecked(offset) }.load(Ordering::Relaxed);
        load_fence(order);
        Ok(value)
    }

    /// Loads the `u64` at `offset` atomically, as [`Region::load_u32`] does. (64-bit
    /// targets only: std allows read-only atomic loads up to pointer size.)
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`], or [`ErrorKind::Misaligned`] if `offset` is not 8-aligned.
    #[cfg(target_pointer_width = "64")]
    pub fn load_u64(&self, offset: usize, order: Ordering) -> Result<u64> {
        self.check_aligned(offset, 8, 8)?;
        // SAFETY: as in `load_u32`, for 8 bytes at an 8-aligned address: a Relaxed load of
        // pointer size, allowed on read-only memory.
        let value = unsafe { self.atomic_u64_unchecked(offset) }.load(Ordering::Relaxed);
        load_fence(order);
        Ok(value)
    }

    /// The `u32` at `offset` as an atomic, without the bounds and alignment checks of
    /// [`Region::atomic_u32`]: for the words of a structure whose place was checked once,
    /// when it was created or opened (the hot paths of `sync` and `channel`).
    ///
    /// # Safety
    /// `offset..offset+4` must lie inside the region and `base + offset` must be 4-aligned.
    /// On a read-only region (`A` is [`ReadOnly`]) only `Relaxed` loads may be made through
    /// the returned reference (std allows no other atomic access to read-only memory).
    #[inline]
    pub(crate) unsafe fn atomic_u32_unchecked(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: in bounds and 4-aligned per the caller's contract; AtomicU32 has the size
        // and alignment of u32; the memory is mapped for as long as `&self` (and so the
        // returned borrow) lives, readable, and writable unless the caller keeps to Relaxed
        // loads on a read-only mapping. Every access through the reference is atomic, so
        // another process writing the same word (atomically, as any sane peer does) is not a
        // data race.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    /// The `u64` at `offset` as an atomic, without checks: as
    /// [`atomic_u32_unchecked`](Region::atomic_u32_unchecked), for 8 bytes.
    ///
    /// # Safety
    /// `offset..offset+8` must lie inside the region and `base + offset` must be 8-aligned;
    /// on a read-only region only `Relaxed` loads may be made through it (std allows them up
    /// to pointer size: 64-bit targets).
    #[inline]
    pub(crate) unsafe fn atomic_u64_unchecked(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: as in `atomic_u32_unchecked`, for 8 bytes at an 8-aligned address.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    /// Copies `len` bytes at a word-aligned `offset` to `dst` with relaxed atomic loads,
    /// without the checks of [`Region::read_at`] (which is the same copy, from any address,
    /// after the bounds check): for a structure's field whose place was checked when it was
    /// created or opened (the seqlock's value).
    ///
    /// # Safety
    /// `offset..offset+len` must lie inside the region and `base + offset` must be aligned to
    /// `usize`; `dst` must be valid for writes of `len` bytes (it may be uninitialised) and
    /// must not overlap the region.
    #[inline]
    pub(crate) unsafe fn read_unchecked(&self, offset: usize, dst: *mut u8, len: usize) {
        // SAFETY: the source range lies inside the region, which the constructor's contract
        // keeps mapped and readable while `self` is borrowed, from a word-aligned address;
        // `dst` per the caller. Starting at 0, the copy has constant offsets when `len` is a
        // constant, so the compiler keeps a small value in registers.
        unsafe { load_words_and_tail(self.base.as_ptr().add(offset), dst, 0, len) }
    }

    /// The whole region as a byte slice.
    ///
    /// # Safety
    /// For as long as the slice lives, no process (this one included) may write to the
    /// region: a concurrent write while a `&[u8]` exists is a data race, undefined
    /// behaviour. Only a caller who controls every writer (for example, all writers have
    /// detached, or a lock all parties honour is held) can promise that.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the region is mapped and readable for `len` bytes while `self` lives; the
        // caller promises that nothing writes it while the slice exists.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len) }
    }
}

impl Region<ReadWrite> {
    /// The base address, for writing. Using it is `unsafe`; holding it is not.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Copies `buf` into the region at `offset`, with relaxed atomic stores.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] if the range does not fit; nothing is written then.
    pub fn write_at(&self, offset: usize, buf: &[u8]) -> Result<()> {
        self.check_range(offset, buf.len())?;
        // SAFETY: in bounds (checked); the mapping is writable because `A` is ReadWrite,
        // and mapped while `self` lives.
        unsafe { atomic_store_bytes(self.base.as_ptr().add(offset), buf) };
        Ok(())
    }

    /// Sets `len` bytes at `offset` to `byte`.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] if the range does not fit; nothing is written then.
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result<()> {
        self.check_range(offset, len)?;
        let chunk = [byte; 256];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(chunk.len());
            self.write_at(offset + done, &chunk[..n])?;
            done += n;
        }
        Ok(())
    }

    /// The `u32` at `offset` as an atomic: the way to put futex words, flags and indices in
    /// shared memory.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`], or [`ErrorKind::Misaligned`] if `offset` is not 4-aligned.
    pub fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32> {
        self.check_aligned(offset, 4, 4)?;
        // SAFETY: in bounds and 4-aligned (checked); the region is read-write, so any atomic
        // access through the reference is allowed.
        Ok(unsafe { self.atomic_u32_unchecked(offset) })
    }

    /// The `u64` at `offset` as an atomic.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`], or [`ErrorKind::Misaligned`] if `offset` is not 8-aligned.
    pub fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64> {
        self.check_aligned(offset, 8, 8)?;
        // SAFETY: as in `atomic_u32`, for 8 bytes at an 8-aligned address.
        Ok(unsafe { self.atomic_u64_unchecked(offset) })
    }

    /// Copies `src` into the region at a word-aligned `offset` with relaxed atomic stores,
    /// without the checks of [`Region::write_at`] (which is the same copy, to any address,
    /// after the bounds check).
    ///
    /// # Safety
    /// `offset..offset+src.len()` must lie inside the region and `base + offset` must be
    /// aligned to `usize`.
    #[inline]
    pub(crate) unsafe fn write_unchecked(&self, offset: usize, src: &[u8]) {
        // SAFETY: the range lies inside the region, from a word-aligned address (the
        // caller's contract); it is mapped while `self` lives and writable because `A` is
        // ReadWrite; `src` is private memory and cannot overlap it mutably.
        unsafe { store_words_and_tail(self.base.as_ptr().add(offset), src, 0) }
    }

    /// The whole region as a mutable byte slice.
    ///
    /// # Safety
    /// For as long as the slice lives, no other process and nothing else in this one (no
    /// other reference, and no other attachment of the same segment) may read or write the
    /// region: the caller guarantees exclusive access (for example,
    /// the segment was just created privately and no one else has attached it).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [u8] {
        // SAFETY: mapped read-write for `len` bytes while `self` lives; the caller promises
        // exclusive access while the slice exists.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), self.len) }
    }
}

/// The fence that turns a preceding `Relaxed` load into a load of `order`.
fn load_fence(order: Ordering) {
    match order {
        Ordering::Relaxed | Ordering::Release => {}
        Ordering::SeqCst => fence(Ordering::SeqCst),
        _ => fence(Ordering::Acquire),
    }
}

/// Copies `len` bytes from `src` to `dst` with relaxed atomic loads: bytes up to a word
/// boundary, then whole pointer-sized words, then the tail. With
/// [`load_words_and_tail`], the one load copy of the crate: [`Region::read_at`], and from a
/// word-aligned start [`Region::read_unchecked`] (the seqlock's reads).
///
/// # Safety
/// `src..src+len` must be mapped and readable; `dst` must be valid for writes of `len` bytes
/// and not overlap it.
#[inline]
unsafe fn atomic_load_bytes(src: *const u8, dst: *mut u8, len: usize) {
    // Bytes up to the first word boundary.
    let head = (src as usize).wrapping_neg() % WORD;
    if head == 0 {
        // A word-aligned start (a structure's field, as in the seqlock): the pieces start at
        // 0, so that once inlined with a constant `len` the copy has constant offsets, and
        // the compiler keeps a small value in registers instead of reloading it from the
        // stack in other-sized pieces (which stalls on store forwarding).
        // SAFETY: as this function's contract.
        unsafe { load_words_and_tail(src, dst, 0, len) }
    } else {
        let head = head.min(len);
        for i in 0..head {
            // SAFETY: `src + i` is inside the readable range (i < len); bytes need no
            // alignment; a Relaxed byte load is allowed on read-only memory. `dst + i` is
            // writable.
            unsafe {
                *dst.add(i) = AtomicU8::from_ptr(src.add(i).cast_mut()).load(Ordering::Relaxed)
            };
        }
        // SAFETY: as this function's contract; `src + head` is word-aligned or `head == len`.
        unsafe { load_words_and_tail(src, dst, head, len) }
    }
}

/// The rest of [`atomic_load_bytes`] from `i`: whole words, then single bytes.
///
/// # Safety
/// As [`atomic_load_bytes`], and `src + i` is word-aligned (or `i == len`).
#[inline(always)]
unsafe fn load_words_and_tail(src: *const u8, dst: *mut u8, mut i: usize, len: usize) {
    while i + WORD <= len {
        // SAFETY: `src + i` is word-aligned and the word from it is inside the readable
        // range. It is a Relaxed load of pointer size, which std allows on read-only memory.
        // `dst + i` has room for a word (written unaligned).
        unsafe {
            let word = AtomicUsize::from_ptr(src.add(i).cast_mut().cast()).load(Ordering::Relaxed);
            dst.add(i).cast::<usize>().write_unaligned(word);
        }
        i += WORD;
    }
    while i < len {
        // SAFETY: a byte inside the readable range; `dst + i` is writable.
        unsafe { *dst.add(i) = AtomicU8::from_ptr(src.add(i).cast_mut()).load(Ordering::Relaxed) };
        i += 1;
    }
}

/// Copies `src` to `dst` with relaxed atomic stores, in the same pieces as the loads. With
/// [`store_words_and_tail`], the one store copy of the crate: [`Region::write_at`], and from
/// a word-aligned start [`Region::write_unchecked`] (the seqlock's writes).
///
/// # Safety
/// `dst..dst+src.len()` must be mapped and writable.
#[inline]
unsafe fn atomic_store_bytes(dst: *mut u8, src: &[u8]) {
    let head = (dst as usize).wrapping_neg() % WORD;
    if head == 0 {
        // A word-aligned start: constant offsets once inlined, as in `atomic_load_bytes`.
        // SAFETY: as this function's contract.
        unsafe { store_words_and_tail(dst, src, 0) }
    } else {
        let head = head.min(src.len());
        for (i, &byte) in src.iter().enumerate().take(head) {
            // SAFETY: `dst + i` is inside the writable range.
            unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(byte, Ordering::Relaxed);
        }
        // SAFETY: as this function's contract; `dst + head` is word-aligned or past the end.
        unsafe { store_words_and_tail(dst, src, head) }
    }
}

/// The rest of [`atomic_store_bytes`] from `i`: whole words, then single bytes.
///
/// # Safety
/// As [`atomic_store_bytes`], and `dst + i` is word-aligned (or `i == src.len()`).
#[inline(always)]
unsafe fn store_words_and_tail(dst: *mut u8, src: &[u8], mut i: usize) {
    let n = src.len();
    while i + WORD <= n {
        let mut word = [0u8; WORD];
        word.copy_from_slice(&src[i..i + WORD]);
        // SAFETY: `dst + i` is word-aligned and the word from it is inside the writable range.
        unsafe { AtomicUsize::from_ptr(dst.add(i).cast()) }
            .store(usize::from_ne_bytes(word), Ordering::Relaxed);
        i += WORD;
    }
    while i < n {
        // SAFETY: a byte inside the writable range.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(src[i], Ordering::Relaxed);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A region over a heap buffer: enough to test the copy and bounds logic.
    fn with_region(len: usize, f: impl FnOnce(&Region)) {
        let mut storage = vec![0u64; len / 8 + 2];
        let base = NonNull::new(storage.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: `storage` outlives the region and is only accessed through it.
        let region = unsafe { Region::<ReadWrite>::from_raw_parts(base, len) };
        f(&region);
    }

    #[test]
    fn copies_round_trip_at_every_alignment() {
        with_region(64, |r| {
            for offset in 0..16 {
                for len in 0..(64 - offset).min(33) {
                    let data: Vec<u8> = (0..len).map(|i| (i * 7 + offset) as u8).collect();
                    r.write_at(offset, &data).unwrap();
                    assert_eq!(r.read_vec(offset, len).unwrap(), data);
                }
            }
        });
    }

    /// The unchecked copies from a word-aligned offset (the seqlock's) are the checked ones'
    /// words and tail: what one writes, the other reads, for every length.
    #[test]
    fn unchecked_copies_agree_with_the_checked_ones() {
        with_region(96, |r| {
            for offset in [0, 8, 16, 24] {
                for len in 0..(96 - offset).min(41) {
                    let data: Vec<u8> = (0..len).map(|i| (i * 11 + offset + 1) as u8).collect();
                    // SAFETY: in bounds, and word-aligned (the heap buffer is 8-aligned).
                    unsafe { r.write_unchecked(offset, &data) };
                    assert_eq!(r.read_vec(offset, len).unwrap(), data);
                    let data: Vec<u8> = data.iter().map(|b| b ^ 0x5a).collect();
                    r.write_at(offset, &data).unwrap();
                    let mut out = vec![0u8; len];
                    // SAFETY: as above; `out` has room for `len` bytes.
                    unsafe { r.read_unchecked(offset, out.as_mut_ptr(), len) };
                    assert_eq!(out, data);
                }
            }
        });
    }

    #[test]
    fn out_of_bounds_is_an_error() {
        with_region(16, |r| {
            assert_eq!(
                r.write_at(10, &[0; 7]).unwrap_err().kind(),
                ErrorKind::OutOfBounds
            );
            assert_eq!(
                r.read_vec(usize::MAX, 2).unwrap_err().kind(),
                ErrorKind::OutOfBounds
            );
            assert!(r.read_vec(16, 0).is_ok());
            assert_eq!(r.atomic_u32(13).unwrap_err().kind(), ErrorKind::OutOfBounds);
            assert_eq!(r.atomic_u32(2).unwrap_err().kind(), ErrorKind::Misaligned);
            assert_eq!(r.atomic_u64(4).unwrap_err().kind(), ErrorKind::Misaligned);
        });
    }

    #[test]
    fn atomic_views_see_copied_bytes() {
        with_region(16, |r| {
            r.write_at(8, &7u64.to_ne_bytes()).unwrap();
            assert_eq!(r.atomic_u64(8).unwrap().load(Ordering::Acquire), 7);
            r.atomic_u32(4).unwrap().store(9, Ordering::Release);
            assert_eq!(r.load_u32(4, Ordering::Acquire).unwrap(), 9);
            r.fill(0, 16, 0xab).unwrap();
            assert_eq!(
                r.load_u64(8, Ordering::Relaxed).unwrap(),
                0xabab_abab_abab_abab
            );
        });
    }
}
