//! [`SeqLock`]: one writer, many readers, torn-read-free through byte-wise atomic copies.
//!
//! Layout (offsets from the structure's start, which is 64-byte aligned):
//!
//! | offset | size                 | field                                          |
//! |-------:|---------------------:|------------------------------------------------|
//! | 0      | 64                   | header (magic `shmkSEQL`)                      |
//! | 64     | 40                   | the writers' robust `pthread_mutex_t`          |
//! | 128    | 4                    | `seq`: even when stable, odd during a write    |
//! | `DATA` | `size_of::<T>()`     | the value, 8-aligned (or aligned for `T`)      |
//!
//! The algorithm is the classic seqlock, with the orderings of Boehm, "Can Seqlocks Get
//! Along With Programming Language Memory Models?" (MSPC 2012):
//!
//! - writer: lock the writer mutex; `seq = s + 1` (odd, Relaxed); Release fence; store the
//!   value with Relaxed atomic words; `seq = s + 2` (Release); unlock.
//! - reader: `s1 = seq` (Acquire); if odd, a write is in progress: retry; load the value with
//!   Relaxed atomic words; Acquire fence; `s2 = seq` (Relaxed); keep the copy only if
//!   `s1 == s2`.
//!
//! Every access to the shared bytes is atomic, so a copy that overlapped a write is a mix of
//! old and new bytes (discarded because `seq` moved), never undefined behaviour.
//!
//! A writer killed mid-write leaves `seq` odd for good. Readers that see it odd for a while
//! `try_lock` the writer mutex: busy means a live writer is at work (keep waiting); if they
//! get the lock (cleanly, or as owner-died, which they mark consistent) while `seq` is still
//! odd, no write is in progress and the writer died: they return [`ErrorKind::WriterDied`].
//! That `try_lock` also checks that the thread named by a busy lock word exists
//! (`kill(tid, 0)`), so a writer that vanished without the kernel marking the mutex (its
//! robust list broken by a peer) counts as dead, not as busy for ever. The next write starts
//! from the odd `seq` and makes it even again.
//!
//! The writer mutex is the same robust mutex as [`RobustMutex`](super::RobustMutex)'s, with
//! the same guarantees against peers that scribble over it.

use super::robust::{Acquired, MutexError, RobustLock};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::header::{self, round_up, Layout, ALIGN, HEADER_SIZE};
use crate::layout::{bytes_of, ShmSafe};
use crate::region::{ReadWrite, Region};
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

const MAGIC: [u8; 8] = *b"shmkSEQL";
const LOCK: usize = HEADER_SIZE;
const SEQ: usize = 128;
/// How many times a reader spins on an odd `seq` before it checks whether the writer lives.
const SPINS_BEFORE_CHECK: u32 = 128;

/// A seqlock in shared memory: one writer at a time (enforced by a robust mutex), any number
/// of readers, which never block the writer and never see a torn value.
///
/// `T` is copied in and out whole ([`write`](SeqLock::write), [`read`](SeqLock::read)), with
/// atomic word-sized loads and stores. Readers retry while a write is in progress; when the
/// writer died mid-write they fail with [`ErrorKind::WriterDied`] instead of spinning forever,
/// until the next write repairs the value.
///
/// # References
/// - [`pthread_mutexattr_setrobust(3)`](https://man7.org/linux/man-pages/man3/pthread_mutexattr_setrobust.3.html)
/// - [`pthread_mutex_consistent(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html)
// The default holder is the only mention of segments here: every method works on any `R`;
// the constructors that attach a segment are in `in_segment.rs`.
pub struct SeqLock<T, R = crate::Attachment> {
    region: R,
    offset: usize,
    value: PhantomData<T>,
}

/// The writer mutex, held; unlocked on drop.
struct WriterLock<'a> {
    lock: RobustLock<'a>,
}

impl Drop for WriterLock<'_> {
    fn drop(&mut self) {
        // This thread holds the mutex (it was locked when this value was made).
        let _ = self.lock.unlock(false);
    }
}

impl<T: ShmSafe, R> SeqLock<T, R> {
    /// Where the value sits, from the structure's start.
    const DATA: usize = round_up(
        SEQ + 4,
        if std::mem::align_of::<T>() > 8 {
            std::mem::align_of::<T>()
        } else {
            8
        },
    );
    /// The bytes the structure takes, rounded up to 64.
    pub const SIZE: usize = round_up(Self::DATA + std::mem::size_of::<T>(), ALIGN);
    /// Compile-time check: the value's alignment must not exceed the structure's.
    const FITS: () = assert!(
        std::mem::align_of::<T>() <= ALIGN
            && RobustLock::SIZE <= SEQ - LOCK
            && RobustLock::ALIGN <= ALIGN
            && Self::DATA % std::mem::align_of::<usize>() == 0,
        "SeqLock supports values aligned to at most 64 bytes"
    );

    fn layout() -> Layout {
        Layout {
            what: "SeqLock",
            magic: MAGIC,
            size: Self::SIZE,
            payload_size: std::mem::size_of::<T>(),
            payload_align: std::mem::align_of::<T>(),
            lock_size: RobustLock::SIZE,
        }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> SeqLock<T, R> {
    /// Lays out a new seqlock holding `value` at `offset` of `region` (a multiple of 64,
    /// with [`SIZE`](SeqLock::SIZE) bytes free).
    ///
    /// # Errors
    /// As [`RobustMutex::create_in`](super::RobustMutex::create_in).
    pub fn create_in(region: R, offset: usize, value: T) -> Result<Self> {
        let () = Self::FITS;
        header::begin_create(&region, offset, &Self::layout(), "SeqLock::create_in")?;
        let this = SeqLock {
            region,
            offset,
            value: PhantomData,
        };
        // SAFETY: begin_create checked that the structure lies inside the region, 64-byte
        // aligned (so the mutex at +64 is aligned), and claimed it: nobody uses the mutex
        // before the state is ready.
        if let Err(e) = unsafe { RobustLock::init(&this.region, offset + LOCK) } {
            header::abandon_create(&this.region, offset);
            return Err(e.into_error("pthread_mutex_init", this.context()));
        }
        this.seq().store(0, Ordering::Relaxed);
        // SAFETY: the value's bytes lie inside the structure (checked), word-aligned (`DATA`
        // is a multiple of 8 in a 64-byte-aligned structure: `FITS`).
        unsafe {
            this.region
                .write_unchecked(offset + Self::DATA, bytes_of(&value))
        };
        header::finish_create(&this.region, offset)?;
        Ok(this)
    }

    /// Opens the seqlock at `offset` of `region`, validating its header.
    ///
    /// # Errors
    /// As [`RobustMutex::open_in`](super::RobustMutex::open_in).
    pub fn open_in(region: R, offset: usize) -> Result<Self> {
        let () = Self::FITS;
        header::open(&region, offset, &Self::layout(), "SeqLock::open_in")?;
        Ok(SeqLock {
            region,
            offset,
            value: PhantomData,
        })
    }

    /// The structure's offset in its region.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Gives back the region holder.
    pub fn into_inner(self) -> R {
        self.region
    }

    /// The writer mutex: the raw lock this front uses.
    fn robust(&self) -> RobustLock<'_> {
        // SAFETY: the mutex lies inside the region, aligned, initialised by the creator
        // (create/open checked the header); the region stays mapped while `self` is
        // borrowed, and every lock taken through this value (a WriterLock, or the check in
        // `check_writer`) is released before that borrow ends.
        unsafe { RobustLock::at(&self.region, self.offset + LOCK) }
    }

    #[inline]
    fn seq(&self) -> &AtomicU32 {
        // SAFETY: create/open checked that the structure lies inside the region, 64-byte
        // aligned, so the word at +128 is in bounds and aligned.
        unsafe { self.region.atomic_u32_unchecked(self.offset + SEQ) }
    }

    fn context(&self) -> String {
        format!("offset={}", self.offset)
    }

    /// Takes the writer mutex; a previous writer that died holding it is no obstacle (the
    /// write that follows replaces whatever it left).
    fn lock_writer(&self, timeout: Option<Duration>) -> Result<WriterLock<'_>> {
        let lock = self.robust();
        let (locked, call) = match timeout {
            None => (lock.lock(), "SeqLock::write"),
            Some(timeout) => (lock.lock_timeout(timeout), "SeqLock::write_timeout"),
        };
        match locked {
            Ok(Acquired::Clean) => Ok(WriterLock { lock }),
            Ok(Acquired::OwnerDied) => {
                // Unlocked when dropped, as consistent even if the marking failed: the
                // writer mutex guards no state of its own (the dead writer's is in `seq`).
                let held = WriterLock { lock };
                held.lock
                    .mark_consistent()
                    .map_err(|e| e.into_error(call, self.context()))?;
                Ok(held)
            }
            Err(e) => Err(e.into_error(call, self.context())),
        }
    }

    /// Replaces the value. Writers exclude each other through the robust mutex; readers are
    /// never blocked.
    ///
    /// # Errors
    /// [`ErrorKind::Deadlock`] if this thread is already writing; an error from the writer
    /// mutex, for example [`ErrorKind::Corrupt`] when another process overwrote one of its
    /// words (see [`RobustMutex`](super::RobustMutex#hostile-peers)).
    pub fn write(&self, value: &T) -> Result<()> {
        self.write_inner(value, None)
    }

    /// As [`write`](SeqLock::write), waiting at most `timeout` for another writer (or a
    /// peer that scribbled over the writer mutex) to let go.
    ///
    /// # Errors
    /// [`ErrorKind::TimedOut`], or as [`write`](SeqLock::write).
    pub fn write_timeout(&self, value: &T, timeout: Duration) -> Result<()> {
        self.write_inner(value, Some(timeout))
    }

    fn write_inner(&self, value: &T, timeout: Option<Duration>) -> Result<()> {
        let _writer = self.lock_writer(timeout)?;
        let seq = self.seq();
        // Only writers change `seq`, and we are the only writer: a plain load suffices.
        let s = seq.load(Ordering::Relaxed);
        // Odd here means the previous writer died mid-write; stay odd, then finish evenly.
        let odd = s | 1;
        seq.store(odd, Ordering::Relaxed);
        // Release fence: a reader whose Acquire fence sees any of our data stores also sees
        // `seq` odd (or later), so it discards its copy.
        fence(Ordering::Release);
        // SAFETY: the value's bytes lie inside the structure (checked at create/open),
        // word-aligned (`FITS`), mapped while `self` is borrowed.
        unsafe {
            self.region
                .write_unchecked(self.offset + Self::DATA, bytes_of(value))
        };
        // Release: a reader that loads this even value with Acquire sees all the data.
        seq.store(odd.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// One attempt: the value, or `Err(Some(seq))` if a write was in progress (`seq` odd),
    /// `Err(None)` if one overlapped the copy.
    #[inline]
    fn attempt(&self) -> std::result::Result<T, Option<u32>> {
        let seq = self.seq();
        // Acquire: pairs with the writer's final Release store.
        let s1 = seq.load(Ordering::Acquire);
        if s1 & 1 != 0 {
            return Err(Some(s1));
        }
        let mut out = MaybeUninit::<T>::uninit();
        // SAFETY: the source lies inside the structure (checked at create/open), word-aligned
        // (`FITS`); `out` is private memory with room for size_of::<T>() bytes.
        unsafe {
            self.region.read_unchecked(
                self.offset + Self::DATA,
                out.as_mut_ptr().cast::<u8>(),
                std::mem::size_of::<T>(),
            )
        };
        // Acquire fence: if the copy saw any store of a later write, the load below sees that
        // write's odd `seq` (or later).
        fence(Ordering::Acquire);
        if seq.load(Ordering::Relaxed) != s1 {
            return Err(None);
        }
        // SAFETY: every byte of `out` was written by the copy, and any bytes are a valid
        // T (T: ShmSafe).
        Ok(unsafe { out.assume_init() })
    }

    /// Reads the value if no write is in progress or overlaps the copy.
    ///
    /// # Errors
    /// [`ErrorKind::WouldBlock`] when a write was in progress or overlapped the copy.
    #[inline]
    pub fn try_read(&self) -> Result<T> {
        self.attempt().map_err(|_| {
            Error::new(
                ErrorKind::WouldBlock,
                "SeqLock::try_read",
                self.context(),
                "a write was in progress",
            )
        })
    }

    /// Reads the value, retrying while writes are in progress.
    ///
    /// # Errors
    /// [`ErrorKind::WriterDied`] when the last writer died mid-write (the value is torn
    /// until the next write); an error from the writer mutex (for example
    /// [`ErrorKind::Corrupt`] when another process overwrote one of its words).
    #[inline]
    pub fn read(&self) -> Result<T> {
        self.read_until(None)
    }

    /// As [`read`](SeqLock::read), giving up after `timeout` (a live writer that stalls,
    /// for example a stopped process, keeps `read` waiting).
    ///
    /// # Errors
    /// [`ErrorKind::TimedOut`], or as [`read`](SeqLock::read).
    pub fn read_timeout(&self, timeout: Duration) -> Result<T> {
        self.read_until(Some(Instant::now() + timeout))
    }

    #[inline]
    fn read_until(&self, deadline: Option<Instant>) -> Result<T> {
        // How long `seq` has stayed at the same odd value: a live writer moves it on when
        // its write ends; only a value that stays put makes us look at the writer mutex, at
        // exponentially spaced attempts so that a slow live writer is not hammered.
        let mut stuck_on = None;
        let mut same = 0u32;
        let mut next_check = SPINS_BEFORE_CHECK;
        let mut attempts = 0u32;
        loop {
            match self.attempt() {
                Ok(value) => return Ok(value),
                Err(None) => stuck_on = None,
                Err(Some(odd)) => {
                    if stuck_on != Some(odd) {
                        stuck_on = Some(odd);
                        same = 0;
                        next_check = SPINS_BEFORE_CHECK;
                    }
                    same = same.saturating_add(1);
                    if same < SPINS_BEFORE_CHECK {
                        std::hint::spin_loop();
                    } else {
                        if same >= next_check {
                            self.check_writer()?;
                            next_check = same.saturating_mul(2);
                        }
                        std::thread::yield_now();
                    }
                }
            }
            attempts = attempts.wrapping_add(1);
            if let Some(deadline) = deadline {
                if attempts % 64 == 0 && Instant::now() >= deadline {
                    return Err(Error::new(
                        ErrorKind::TimedOut,
                        "SeqLock::read_timeout",
                        self.context(),
                        "writes kept the value busy until the time ran out",
                    ));
                }
            }
        }
    }

    /// `seq` has stayed odd for a while: is a writer alive? `Ok` if one holds the mutex (or
    /// finished meanwhile), [`ErrorKind::WriterDied`] if nobody is writing yet `seq` is odd.
    fn check_writer(&self) -> Result<()> {
        let lock = self.robust();
        // A writer that vanished without the kernel marking the mutex (its robust list
        // broken by a peer) counts as dead too: otherwise `read` would wait for it forever.
        let taken = lock.try_lock_or_reap();
        self.writer_checked(&lock, taken)
    }

    /// The rest of [`check_writer`](SeqLock::check_writer), once the `try_lock` returned
    /// `taken`.
    fn writer_checked(
        &self,
        lock: &RobustLock<'_>,
        taken: std::result::Result<Acquired, MutexError>,
    ) -> Result<()> {
        match taken {
            Err(e) if e.is_busy() => return Ok(()),
            Ok(Acquired::Clean) => {}
            Ok(Acquired::OwnerDied) => {
                // The dead writer's state is in `seq` (odd): the mutex itself guards nothing.
                // So if the marking fails (a peer rewrote a word meanwhile: `Corrupt`), it is
                // released as consistent all the same; released as inconsistent, it would be
                // not recoverable for good, and no write would ever repair `seq`.
                if let Err(e) = lock.mark_consistent() {
                    let _ = lock.unlock(false);
                    return Err(e.into_error("SeqLock::read", self.context()));
                }
            }
            Err(e) => return Err(e.into_error("SeqLock::read", self.context())),
        }
        // We hold the writer mutex, so no write is in progress: an odd `seq` is a dead
        // writer's.
        let odd = self.seq().load(Ordering::Acquire) & 1 != 0;
        let _ = lock.unlock(false);
        if odd {
            Err(Error::new(
                ErrorKind::WriterDied,
                "SeqLock::read",
                self.context(),
                "the writer died in the middle of a write; the value is torn until the next write",
            ))
        } else {
            Ok(())
        }
    }
}

impl<T, R> fmt::Debug for SeqLock<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqLock")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::NonNull;

    /// A reader that found the writer mutex owner-died fails to mark it consistent (a peer
    /// rewrote `__owner` in between: `Corrupt`, a transient error). The writer mutex guards
    /// no state of its own, so the reader releases it as consistent: the next write works.
    /// It used to be released as inconsistent, which made it not recoverable for good, and
    /// every later write failed.
    #[test]
    fn a_reader_that_cannot_mark_the_writer_mutex_consistent_leaves_it_recoverable() {
        #[repr(align(64))]
        struct Lines([u8; 512]);
        let mut storage = Box::new(Lines([0; 512]));
        let base = NonNull::new(storage.0.as_mut_ptr()).unwrap();
        // SAFETY: `storage` outlives the region and is only accessed through it.
        let region = unsafe { Region::<ReadWrite>::from_raw_parts(base, 512) };
        let s = SeqLock::create_in(&region, 0, [1u64; 4]).unwrap();
        // A writer thread dies holding the writer mutex: the kernel marks it owner-died
        // (before `join` returns: glibc's join waits for the kernel to clear the thread's
        // id, which it does after walking the thread's robust list).
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: the writer mutex, initialised, in `storage`, which outlives
                    // the test.
                    let writer = unsafe { RobustLock::at(&region, LOCK) };
                    assert_eq!(writer.lock(), Ok(Acquired::Clean));
                })
                .join()
                .unwrap();
        });
        let lock = s.robust();
        let taken = lock.try_lock_or_reap();
        assert_eq!(taken, Ok(Acquired::OwnerDied));
        // A peer's write lands between the reap and the marking: `__owner`, 8 bytes into
        // glibc's `pthread_mutex_t` on 64-bit Linux.
        let owner = LOCK + 8;
        region
            .atomic_u32(owner)
            .unwrap()
            .store(4242, Ordering::Relaxed);
        let e = s.writer_checked(&lock, taken).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        // `__lock`, at the start of the mutex.
        assert_eq!(
            region.load_u32(LOCK, Ordering::Relaxed).unwrap(),
            0,
            "released"
        );
        s.write(&[2; 4]).expect("the writer mutex is still usable");
        assert_eq!(s.read().unwrap(), [2; 4]);
    }
}
