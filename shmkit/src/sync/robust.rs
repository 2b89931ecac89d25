//! The robust-mutex protocol behind [`RobustMutex`](super::RobustMutex) and the writer lock
//! of [`SeqLock`](super::SeqLock): glibc 2.36's own algorithm for a robust, process-shared,
//! error-checking `pthread_mutex_t` (`PTHREAD_MUTEX_ROBUST_ERRORCHECK_NP` with the
//! process-shared bit; no priority inheritance or protection), re-implemented over atomics
//! on the same words, so that no glibc code runs on memory another process may be rewriting.
//!
//! Sources followed: glibc's `nptl/pthread_mutex_lock.c` (`__pthread_mutex_lock_full`),
//! `pthread_mutex_timedlock.c`, `pthread_mutex_trylock.c`, `pthread_mutex_unlock.c`
//! (`__pthread_mutex_unlock_full`), `pthread_mutex_consistent.c`, and the list macros
//! `ENQUEUE_MUTEX`/`DEQUEUE_MUTEX` of `nptl/descr.h`. A C program locking the same mutex
//! with `pthread_mutex_lock` interoperates (tested against a gcc-built peer).
//!
//! # The words
//!
//! | word | value | written by |
//! |---|---|---|
//! | `__lock` | 0 (free); holder's thread id, with `FUTEX_WAITERS` (bit 31) once someone may sleep on it; `FUTEX_OWNER_DIED` (bit 30) with thread id 0 after its holder died | lockers (compare-and-swap), the holder's unlock (swap to 0), the kernel when the holder dies |
//! | `__owner` | holder's thread id; 0 when free; `PTHREAD_MUTEX_INCONSISTENT` (`INT_MAX`) while an owner-died lock is not marked consistent; `PTHREAD_MUTEX_NOTRECOVERABLE` (`INT_MAX - 1`) for good after such a lock was unlocked | the holder |
//! | `__count` | 1 once locked; 0 when found not recoverable | the holder |
//! | `__nusers` | +1 per clean lock, -1 per unlock (drifts when holders die) | the holder |
//! | `__kind` | `0x92` as `pthread_mutex_init` made it; never read to choose a path here | nobody after init |
//! | `__list.__prev`, `__list.__next` | the holder's robust-list neighbours; 0 when free | the holder (and glibc, for its own neighbouring entries) |
//!
//! Lock: `list_op_pending` = this mutex; compare-and-swap `__lock` 0 → our id (plus
//! `FUTEX_WAITERS` once we have waited, as glibc's `assume_other_futex_waiters`); an
//! owner-died word is taken over the same way and gives [`Acquired::OwnerDied`] with
//! `__owner = PTHREAD_MUTEX_INCONSISTENT`; a word naming this thread gives `EDEADLK`, as
//! glibc's error-checking mutex does, unless this thread holds no robust mutex at all (then
//! the word is stale and taken over as owner-died: see "Words from other processes");
//! otherwise set `FUTEX_WAITERS` and `FUTEX_WAIT` (shared) on the word. Once acquired: `__owner == PTHREAD_MUTEX_NOTRECOVERABLE` means release again
//! and fail with `ENOTRECOVERABLE`; else `__count = 1`, link the mutex into this thread's
//! robust list (at the tail, see below), clear `list_op_pending`, `__owner = id`,
//! `__nusers += 1`.
//!
//! Unlock: `list_op_pending` = this mutex, unlink it, `__owner` = 0 (or
//! `PTHREAD_MUTEX_NOTRECOVERABLE` for an owner-died lock never marked consistent),
//! `__nusers -= 1`, swap `__lock` to 0 (Release) and `FUTEX_WAKE` one waiter if
//! `FUTEX_WAITERS` was set, clear `list_op_pending`.
//!
//! # The robust list, without following pointers from shared memory
//!
//! glibc registered each thread's `struct robust_list_head` with the kernel; when the thread
//! dies, the kernel walks it (`head.list`, then each entry's `__next`) and marks every word
//! that still holds the thread's id `FUTEX_OWNER_DIED`, and does the same for
//! `list_op_pending`. Entries are the addresses of `__list.__next`, the lock word is
//! `futex_offset` (-32) away (checked when the head is first used). The list is circular
//! through the head, doubly linked: `__prev` names the entry before (`robust_prev`, the word
//! before the head in glibc's thread descriptor, names the last entry).
//!
//! glibc's `DEQUEUE_MUTEX` follows the unlocked mutex's `__next` and `__prev` and writes
//! through them: a peer that rewrites them makes glibc write where the peer chose. This
//! module never reads a pointer from a mutex it linked. It keeps the invariant
//!
//! > this thread's list is: the head, the entries glibc linked (robust mutexes this thread
//! > locked with `pthread_mutex_lock` directly), then the entries this module linked, in
//! > the order of its per-thread record (oldest first), then the head again
//!
//! because glibc links its entries at the front (after the head) and this module links its
//! own at the tail (before the head); each side unlinks only its own entries, which keeps
//! the order. The kernel and glibc do not depend on the order: the kernel walks every
//! entry, and glibc's unlock uses only the unlocked entry's own links. So:
//!
//! - what every link next to our entries holds follows from the record: our entry's
//!   `__next` is our next entry, or the head after our last; our entry's `__prev` is our
//!   previous entry, or for our oldest, glibc's last entry or the head. The record holds
//!   addresses only; no link is ever reconstructed from a mutex's memory, and a value read
//!   from a mutex of ours is only compared with the record (and reported when it differs),
//!   never followed nor written through;
//! - glibc's unlock of its entry rewrites the `__next` of the entry before it, which is the
//!   head or another glibc entry, never one of ours (it may write our oldest entry's
//!   `__prev`, which nothing reads);
//! - this module reads the links of glibc's entries in two cases only: its first lock while
//!   this thread holds glibc-linked entries (to find the last of them, after which it links),
//!   and the unlock of its oldest entry in that state (to find the entry before it). It then
//!   walks from the head (in the thread descriptor: private memory) through the `__next` of
//!   entries that are not in its record, as the kernel walks them. Every address followed so
//!   was written there by glibc or by this module from its record, never copied from a
//!   mutex this module linked; glibc's own unlock trusts the same words the same way (it
//!   writes through them). A walk that meets a null, misaligned or looping link, or one of
//!   our entries before the one sought, gives [`MutexError::Corrupt`] (a lock is then not
//!   taken; an unlock still unlocks, and takes the mutex out of the record only).
//!
//! What this relies on: no other code unlinks this module's entries (C code in this thread
//! calling `pthread_mutex_unlock` on a mutex a shmkit guard holds is not supported: glibc
//! would follow that mutex's links); and the glibc-linked mutexes this thread holds are not
//! rewritten by a peer (if one lives in shared memory, a peer can make this module's walk
//! follow its pointers, as it can make glibc's own unlock follow them).
//!
//! At every lock and unlock the `__next` of every mutex this thread still holds is rewritten
//! from the record, so a peer that rewrites one can hide the mutexes this thread locked after
//! it from the kernel's death walk only until this thread's next call (the window: if the
//! thread dies in it, the hidden mutexes keep its dead id instead of `FUTEX_OWNER_DIED`, and
//! the next locker finds them through the liveness check below, up to [`LIVENESS_PERIOD`]
//! later).
//!
//! # Words from other processes
//!
//! Every word is loaded once per use into a local and validated: a lock word no correct
//! party writes (`FUTEX_WAITERS` with no owner, `FUTEX_OWNER_DIED` with a thread id, a
//! thread id at or above `PID_MAX_LIMIT`), a `__kind` other than the one created, an
//! `__owner` other than 0 or `PTHREAD_MUTEX_NOTRECOVERABLE` in a mutex just acquired free, or
//! a `__count` above 1, gives [`MutexError::Corrupt`] naming the word (a lock acquired to read
//! them is released again). Timed locks sleep at most until their deadline and check it
//! before every sleep and after every turn that did not sleep, so a peer that keeps
//! rewriting the word cannot keep them past it; after a sleep, the word is looked at once
//! before the deadline (as in glibc, whose timed lock checks it only in the kernel's wait),
//! so a locker woken by an unlock takes the free mutex even if its deadline passed
//! meanwhile, and one that gives up after being woken wakes another sleeper (an unlock wakes
//! only one: it must not be lost). A lock word naming a thread that does not exist (checked
//! every [`LIVENESS_PERIOD`] of waiting, with `kill(tid, 0)`) is taken over as owner-died,
//! as the kernel would have marked it.
//!
//! A lock word naming this thread gives `EDEADLK` from every lock call while this thread
//! may hold the mutex: while it holds any robust mutex, through this module (its record
//! is not empty: maybe this mutex, at this address or another mapping of the same memory)
//! or through glibc (its robust list has glibc's entries: an entry this module cannot tell
//! from this mutex's, at another address). A typed error, never a hang and never a second
//! holder. While this thread holds none (its record is empty and `head.list` is the head
//! itself), no guard for the mutex can exist on this thread, so the word is stale: a peer
//! wrote this thread's id there, or put it back after this thread's unlock (a peer that
//! writes 0 into a held word and later puts the old value back with a compare-and-swap
//! does that). Every lock call (`lock`, `try_lock`, timed) then takes it over exactly as a
//! vanished holder's: [`Acquired::OwnerDied`], `__owner = PTHREAD_MUTEX_INCONSISTENT`, so
//! that the caller checks the data. (Such a word used to give `EDEADLK` for ever, while
//! untimed locks in other threads waited for this live thread.) A word naming a live
//! thread *other* than the caller that holds nothing is not detected: the other lockers
//! wait for it (with their deadlines, if any) until that thread's next lock call on this
//! mutex takes the word over, or until someone else rewrites the word.
//!
//! In one rare case `EDEADLK` is wrong: a holder that died without the kernel marking the
//! word (its robust list broken by a peer), whose thread id the kernel then gave to this
//! thread, while this thread holds another robust mutex. This thread's locks of that mutex
//! then fail with `EDEADLK` until it holds none, and other threads wait for it as for a
//! live holder (with their deadlines). Not supported either: a signal handler that locks
//! the mutex while the code it interrupted is inside glibc's `pthread_mutex_lock` of it
//! (glibc has set the word but not yet linked the entry: the handler's lock takes it over).
//!
//! # Not supported
//! - Locking or unlocking from a signal handler that interrupted a call of this module on
//!   the same thread (the thread's record is in use: the call fails with
//!   [`MutexError::Unsupported`]; and a handler that unlocks what the interrupted code
//!   holds breaks mutual exclusion anyway). `fork` from such a handler leaves the child's
//!   record stale.
//! - Unlocking, with glibc's `pthread_mutex_unlock`, a mutex this module locked.
//! - More than [`MAX_HELD`] of these mutexes held by one thread at once.

use crate::sys::pthread::{
    self as raw, PthreadMutex, RobustHead, Words, EBUSY, EDEADLK, ENOTRECOVERABLE, EPERM,
    ETIMEDOUT, FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, KIND, OWNER_INCONSISTENT,
    OWNER_NOTRECOVERABLE, PID_MAX_LIMIT,
};
use crate::sys::{futex, process, Errno};
use std::cell::RefCell;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How many of these mutexes one thread can hold at once (the size of its record,
/// which lives in thread-local storage without a destructor, so that it is there even while
/// other thread-locals are being destroyed).
pub(crate) const MAX_HELD: usize = 32;

/// How long a blocked lock waits between two checks that the thread named by the lock
/// word still exists (the same period as the channels' liveness checks).
pub(crate) const LIVENESS_PERIOD: Duration = Duration::from_millis(50);

/// How many turns `try_lock` takes when the word keeps changing under its
/// compare-and-swap before it reports the mutex busy.
const TRY_TURNS: u32 = 64;

/// The most entries walked in this thread's list (the kernel's `ROBUST_LIST_LIMIT`).
const WALK_LIMIT: usize = 2048;

/// How a lock ended, when it acquired the mutex.
///
/// Four bytes wide (like the error number beside it in a `Result`), so that results are
/// copied as whole words: a byte here made the compiler copy the `Result` in odd-sized
/// pieces, and the next whole-word load of it stalled on store forwarding, which cost the
/// uncontended lock a measurable part of its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Acquired {
    /// A clean lock.
    Clean,
    /// The previous holder died holding it (`EOWNERDEAD`): the caller holds it now, marked
    /// inconsistent until [`RobustLock::mark_consistent`].
    OwnerDied,
}

/// Why a call failed.
// `Box<String>`: one word (a `String` is three, `Box<str>` two), so that the whole error is
// two words and a `Result` of it travels in registers on the lock's fast path.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MutexError {
    /// glibc's error number for the same outcome: `EBUSY` (held, `try_lock`), `ETIMEDOUT`,
    /// `EDEADLK` (this thread may hold it), `ENOTRECOVERABLE`, `EPERM` (unlock of a mutex this
    /// thread does not hold).
    Sys(Errno),
    /// A word holds a value no correct party leaves there: which word, what it holds, and
    /// what was done about it. (Boxed, like the next one: the error stays two words, so that
    /// results travel in registers on the fast path.)
    Corrupt(Box<String>),
    /// The call cannot be made on this thread (no robust list registered, or re-entered
    /// from a signal handler): why.
    Unsupported(Box<String>),
    /// This thread already holds [`MAX_HELD`] of these mutexes.
    TooMany,
}

impl MutexError {
    fn sys(errno: i32) -> MutexError {
        MutexError::Sys(Errno::from_raw(errno))
    }

    #[cold]
    fn corrupt(what: String) -> MutexError {
        MutexError::Corrupt(Box::new(what))
    }

    #[cold]
    fn unsupported(why: impl Into<String>) -> MutexError {
        MutexError::Unsupported(Box::new(why.into()))
    }

    /// The error number, if that is what this is.
    pub(crate) fn raw(&self) -> Option<i32> {
        match self {
            MutexError::Sys(e) => Some(e.raw()),
            _ => None,
        }
    }
}

/// How long a lock may wait.
#[derive(Clone, Copy)]
enum Wait {
    /// Not at all (`try_lock`); with `true`, a holder that no longer exists is checked for
    /// (a system call) and counts as dead.
    No(bool),
    /// As long as the holder lives.
    Forever,
    /// Until this instant.
    Until(Instant),
}

/// One robust mutex, as seen by the protocol.
pub(crate) struct RobustLock<'a> {
    w: Words<'a>,
}

impl<'a> RobustLock<'a> {
    /// The mutex at `mutex`.
    ///
    /// # Safety
    /// `mutex` must point at a mutex initialised by `init_robust_shared` (in any process),
    /// in memory that stays mapped for `'a` and, once this thread locks it, until this thread
    /// has unlocked it or exited (the kernel and later calls on this thread touch the words
    /// of every mutex on the thread's robust list).
    pub(crate) unsafe fn new(mutex: *mut PthreadMutex) -> Self {
        RobustLock {
            // SAFETY: per the caller's contract; this module only accesses the words
            // atomically.
            w: unsafe { raw::words(mutex) },
        }
    }

    /// Locks, waiting as long as a live thread holds it.
    ///
    /// # Errors
    /// As [`MutexError`]: `EDEADLK`, `ENOTRECOVERABLE`, `Corrupt`, `Unsupported`, `TooMany`.
    #[inline]
    pub(crate) fn lock(&self) -> Result<Acquired, MutexError> {
        with_thread(|t| t.lock(&self.w, Wait::Forever))
    }

    /// Locks if free (or its holder died), without waiting.
    ///
    /// # Errors
    /// `EBUSY` when held; otherwise as [`lock`](RobustLock::lock).
    #[inline]
    pub(crate) fn try_lock(&self) -> Result<Acquired, MutexError> {
        with_thread(|t| t.lock(&self.w, Wait::No(false)))
    }

    /// As [`try_lock`](RobustLock::try_lock), and when the mutex is held, checks that the
    /// thread named as holder exists (`kill(tid, 0)`: a system call): one that does not
    /// counts as a holder that died ([`Acquired::OwnerDied`]). For callers that look now and
    /// then whether a holder is gone, and would otherwise see a vanished holder as busy for
    /// ever.
    ///
    /// # Errors
    /// As [`try_lock`](RobustLock::try_lock).
    pub(crate) fn try_lock_or_reap(&self) -> Result<Acquired, MutexError> {
        with_thread(|t| t.lock(&self.w, Wait::No(true)))
    }

    /// Locks, waiting until `deadline` at most.
    ///
    /// # Errors
    /// `ETIMEDOUT` when the deadline passes; otherwise as [`lock`](RobustLock::lock).
    #[inline]
    pub(crate) fn lock_until(&self, deadline: Instant) -> Result<Acquired, MutexError> {
        with_thread(|t| t.lock(&self.w, Wait::Until(deadline)))
    }

    /// Unlocks a mutex this thread holds; `inconsistent` for an owner-died lock never marked
    /// consistent (the mutex then becomes not recoverable, as in glibc).
    ///
    /// # Errors
    /// `EPERM` when this thread does not hold it (it did not lock it through this module);
    /// `Corrupt` naming each word found rewritten while this thread held the lock: the words
    /// were put back and the mutex unlocked all the same.
    #[inline]
    pub(crate) fn unlock(&self, inconsistent: bool) -> Result<(), MutexError> {
        with_thread(|t| t.unlock(&self.w, inconsistent))
    }

    /// `pthread_mutex_consistent`: marks an owner-died lock this thread holds consistent
    /// (`__owner` = this thread's id).
    ///
    /// # Errors
    /// `Corrupt` (the lock stays inconsistent) when `__kind`, `__lock` or `__owner` holds
    /// another value than this state leaves there.
    pub(crate) fn mark_consistent(&self) -> Result<(), MutexError> {
        with_thread(|t| {
            let kind = self.w.kind().load(Ordering::Relaxed);
            check_kind(kind)?;
            let lock = self.w.lock().load(Ordering::Relaxed);
            if lock & !FUTEX_WAITERS != t.tid {
                return Err(MutexError::corrupt(format!(
                    "__lock is {} while this thread holds the mutex",
                    describe_lock(lock)
                )));
            }
            let owner = self.w.owner().load(Ordering::Relaxed);
            if owner != OWNER_INCONSISTENT {
                return Err(MutexError::corrupt(format!(
                    "__owner is {} while the mutex is inconsistent; glibc leaves PTHREAD_MUTEX_INCONSISTENT there",
                    describe_owner(owner)
                )));
            }
            self.w.owner().store(t.tid, Ordering::Relaxed);
            Ok(())
        })
    }
}

/// This thread's view of its robust list. (`repr(C)`: the words every call reads come
/// first, on the cache line of the first entries.)
#[repr(C)]
struct ThreadList {
    /// This thread's id (`gettid(2)` is a system call: asked once per thread, and again in
    /// the child of a fork).
    tid: u32,
    /// How many entries of `held` are in use.
    len: usize,
    /// The robust-list head glibc registered; `None` until first used (and after a fork).
    head: Option<RobustHead>,
    /// The entries (addresses of `__list.__next`) this module linked and has not unlinked,
    /// oldest first: the last `len` entries of the list, in this order (the invariant in the
    /// module docs). What each one's `__next` must hold follows from it: the next one here,
    /// or the head after the last.
    held: [usize; MAX_HELD],
}

thread_local! {
    /// No destructor (every field is `Copy`): usable until the thread's very end.
    static THREAD: RefCell<ThreadList> = const {
        RefCell::new(ThreadList {
            tid: 0,
            len: 0,
            head: None,
            held: [0; MAX_HELD],
        })
    };
}

/// Runs `f` on this thread's list, getting its head and id first if needed.
#[inline]
fn with_thread<R>(
    f: impl FnOnce(&mut ThreadList) -> Result<R, MutexError>,
) -> Result<R, MutexError> {
    // Only the address comes out of `with`: a closure this small lets the compiler inline
    // `with`, so the thread-local is reached directly instead of through std's accessor.
    let cell: *const RefCell<ThreadList> = THREAD.with(|t| t as *const _);
    // SAFETY: `THREAD` has no destructor, so its storage stays valid until this thread
    // exits, which it cannot do during this call; the reference is used on this thread
    // only, and the RefCell still guards against a second, re-entrant borrow.
    let cell = unsafe { &*cell };
    let Ok(mut t) = cell.try_borrow_mut() else {
        return Err(reentered());
    };
    if t.head.is_none() {
        t.init()?;
    }
    f(&mut t)
}

#[cold]
fn reentered() -> MutexError {
    MutexError::unsupported(
        "called while another robust-mutex call was in progress on this thread (from a signal handler?), which is not supported",
    )
}

/// In the child of `fork(2)`: glibc empties the forking thread's robust list (the child
/// holds none of the parent's locks) and the child's thread has a new id, so this thread's
/// view is reset. A guard inherited by the child then is not one of its locks (`EPERM`).
extern "C" fn forget_after_fork() {
    THREAD.with(|t| {
        if let Ok(mut t) = t.try_borrow_mut() {
            t.tid = 0;
            t.head = None;
            t.len = 0;
        }
    });
}

/// Registers [`forget_after_fork`] with `pthread_atfork`, once per process. Without it, the
/// child of a `fork` would keep its parent's thread id and records, and take the parent's
/// locks for its own; so a registration that fails (`ENOMEM`) fails the call that needed
/// it (`Unsupported`), and the next call tries again.
#[cold]
fn register_fork_handler() -> Result<(), MutexError> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    static REGISTERING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // Acquire: pairs with the Release below (the registration happened before).
    if REGISTERED.load(Ordering::Acquire) {
        return Ok(());
    }
    let _one_at_a_time = REGISTERING.lock().unwrap_or_else(|e| e.into_inner());
    if !REGISTERED.load(Ordering::Relaxed) {
        raw::at_fork_in_child(forget_after_fork).map_err(|e| {
            MutexError::unsupported(format!(
                "cannot register the fork handler that gives a forked child its own thread id and robust list (pthread_atfork: {})",
                e.name().unwrap_or("unknown error")
            ))
        })?;
        REGISTERED.store(true, Ordering::Release);
    }
    Ok(())
}

#[cold]
fn broken_list() -> MutexError {
    MutexError::corrupt(
        "this thread's robust list, followed from its head through the entries glibc linked, does not come back to the head (a null, misaligned or looping link, or more than 2048 entries): a robust mutex locked through glibc was overwritten"
            .into(),
    )
}

/// Gives up a lock attempt with `e`, passing on a wake-up this thread may have taken from
/// another sleeper (see `owe_wake` in `acquire`).
#[cold]
fn give_up(lock: &AtomicU32, owe_wake: bool, e: MutexError) -> MutexError {
    if owe_wake {
        let _ = futex::wake(lock, 1);
    }
    e
}

impl ThreadList {
    /// Gets this thread's robust-list head and id (once per thread, and after a fork).
    #[cold]
    fn init(&mut self) -> Result<(), MutexError> {
        register_fork_handler()?;
        let head = RobustHead::current().map_err(|e| {
            MutexError::unsupported(format!(
                "this thread has no robust list registered by glibc (get_robust_list: {})",
                e.name().unwrap_or("unknown error")
            ))
        })?;
        self.tid = raw::gettid();
        self.head = Some(head);
        self.len = 0;
        Ok(())
    }

    #[inline]
    fn head(&self) -> RobustHead {
        self.head.expect("with_thread sets the head first")
    }

    /// Where `entry` is in the record.
    fn find(&self, entry: usize) -> Option<usize> {
        self.held[..self.len].iter().rposition(|&e| e == entry)
    }

    /// What the `__next` of our entry `i` holds: our next entry, or the head after our last.
    #[inline]
    fn next_of(&self, i: usize, h: usize) -> usize {
        if i + 1 < self.len {
            self.held[i + 1]
        } else {
            h
        }
    }

    /// Rewrites the `__next` of every entry this thread holds from the record, so that a
    /// value a peer wrote there hides none of them from the kernel's death walk after this
    /// call.
    fn refresh(&self, h: usize) {
        for i in 0..self.len {
            let want = self.next_of(i, h);
            // SAFETY: our entry: a mutex this thread holds, mapped while held
            // (RobustLock::new).
            let (_, next) = unsafe { raw::links(self.held[i]) };
            if next.load(Ordering::Relaxed) != want {
                next.store(want, Ordering::Relaxed);
            }
        }
    }

    /// The entry whose `__next` is `stop`, walking from the head through the entries glibc
    /// linked, as the kernel walks them: the head itself if the list starts with `stop`.
    /// `None` if the walk meets one of our entries, a null or misaligned link, or more than
    /// [`WALK_LIMIT`] entries first.
    ///
    /// Only the head (this thread's descriptor) and the `__next` of entries this module did
    /// not link are read, so every address followed was written by glibc, or by this module
    /// from its record: never one read from a mutex this module linked. glibc trusts those
    /// words the same way (its unlock writes through them).
    fn glibc_before(&self, stop: usize, head: RobustHead) -> Option<usize> {
        let h = head.addr();
        let mut before = h;
        let mut cur = head.list() & !1;
        for _ in 0..WALK_LIMIT {
            if cur == stop {
                return Some(before);
            }
            if cur == h || cur == 0 || cur % 8 != 0 || self.find(cur).is_some() {
                return None;
            }
            // SAFETY: reached from this thread's head through links glibc keeps, and not
            // one of ours: the entry of a robust mutex this thread holds through glibc,
            // whose memory its user keeps mapped while held (glibc's unlock reads and writes
            // it too).
            let (_, next) = unsafe { raw::links(cur) };
            before = cur;
            cur = next.load(Ordering::Relaxed) & !1;
        }
        None
    }

    /// The last entry of the list, after which the next entry of ours is linked: our newest
    /// if we hold any; else the last one glibc linked, or the head.
    #[inline]
    fn tail(&self, head: RobustHead) -> Result<usize, MutexError> {
        if self.len != 0 {
            return Ok(self.held[self.len - 1]);
        }
        let h = head.addr();
        if head.list() == h {
            return Ok(h);
        }
        self.glibc_before(h, head).ok_or_else(broken_list)
    }

    /// `ENQUEUE_MUTEX`, at the tail rather than the front (see the module docs): links the
    /// mutex after `tail`, last before the head.
    #[inline]
    fn enqueue(&mut self, w: &Words<'_>, tail: usize, head: RobustHead) {
        let e = w.entry();
        let h = head.addr();
        w.next().store(h, Ordering::Relaxed);
        w.prev().store(tail, Ordering::Relaxed);
        // The entry is complete before anything points at it (the kernel may walk the list
        // at any instruction, if this thread dies).
        compiler_fence(Ordering::SeqCst);
        if tail == h {
            head.set_list(e);
        } else {
            // SAFETY: `tail` is our newest entry (held, mapped: RobustLock::new), or the last
            // entry glibc linked (a robust mutex this thread holds through glibc, mapped
            // while held, as glibc's own ENQUEUE_MUTEX assumes when it writes the `__prev`
            // of the first entry).
            let (_, next) = unsafe { raw::links(tail) };
            next.store(e, Ordering::Relaxed);
        }
        head.set_prev(e);
        self.held[self.len] = e;
        self.len += 1;
    }

    /// The entry before our entry `i`: our previous one, or for our oldest, the last one
    /// glibc linked, or the head (`None`: not found, see `glibc_before`).
    fn before(&self, i: usize, head: RobustHead) -> Option<usize> {
        if i > 0 {
            Some(self.held[i - 1])
        } else {
            self.glibc_before(self.held[0], head)
        }
    }

    /// `DEQUEUE_MUTEX` of our entry `i`, whose predecessor is `before` (`None`: unknown,
    /// then it only leaves the record), with every link taken from the record, none read from
    /// the mutex.
    fn dequeue(&mut self, i: usize, before: Option<usize>, head: RobustHead) {
        let e = self.held[i];
        let h = head.addr();
        let after = self.next_of(i, h);
        if let Some(before) = before {
            // `after.__prev = before` (the head's `robust_prev` when `e` was last).
            if after == h {
                head.set_prev(before);
            } else {
                // SAFETY: our entry i + 1: held, mapped (RobustLock::new).
                let (prev, _) = unsafe { raw::links(after) };
                prev.store(before, Ordering::Relaxed);
            }
            // `before.__next = after`: this store takes `e` out of the list the kernel walks.
            if before == h {
                head.set_list(after);
            } else {
                // SAFETY: our entry i - 1 (held, mapped), or for i == 0 the entry glibc
                // linked before ours, found by `glibc_before` (a robust mutex this thread
                // holds through glibc, mapped while held).
                let (_, next) = unsafe { raw::links(before) };
                next.store(after, Ordering::Relaxed);
            }
        }
        // Out of the list before its own links are cleared.
        compiler_fence(Ordering::SeqCst);
        // SAFETY: our entry, held until the release that follows (RobustLock::new).
        let (p, n) = unsafe { raw::links(e) };
        p.store(0, Ordering::Relaxed);
        n.store(0, Ordering::Relaxed);
        self.held.copy_within(i + 1..self.len, i);
        self.len -= 1;
    }

    #[inline]
    fn lock(&mut self, w: &Words<'_>, wait: Wait) -> Result<Acquired, MutexError> {
        let kind = w.kind().load(Ordering::Relaxed);
        if kind != KIND {
            return Err(corrupt_kind(kind));
        }
        let head = self.head();
        if self.len != 0 {
            self.refresh(head.addr());
            if self.len == MAX_HELD {
                return Err(self.full(w));
            }
        }
        let tail = self.tail(head)?;
        // The kernel handles a pending entry too if this thread dies from here on (a word
        // acquired but not yet linked).
        head.set_pending(w.entry());
        compiler_fence(Ordering::SeqCst);
        // glibc's first attempt: 0 → our id. Acquire: pairs with the Release swap of the
        // last unlock.
        let result =
            match w
                .lock()
                .compare_exchange(0, self.tid, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => self.acquired_clean(w, tail, head),
                Err(_) => self.acquire(w, wait, tail, head),
            };
        if result.is_err() {
            compiler_fence(Ordering::SeqCst);
            head.set_pending(0);
        }
        result
    }

    #[cold]
    fn full(&self, w: &Words<'_>) -> MutexError {
        if w.lock().load(Ordering::Relaxed) & FUTEX_TID_MASK == self.tid {
            MutexError::sys(EDEADLK)
        } else {
            MutexError::TooMany
        }
    }

    /// The lock loop of `__pthread_mutex_lock_full` (and its timed and try variants).
    #[inline(never)]
    fn acquire(
        &mut self,
        w: &Words<'_>,
        wait: Wait,
        tail: usize,
        head: RobustHead,
    ) -> Result<Acquired, MutexError> {
        let id = self.tid;
        let mut old = w.lock().load(Ordering::Relaxed);
        // glibc's `assume_other_futex_waiters`: once we slept, others may sleep too, so the
        // word we leave must keep FUTEX_WAITERS (or a wake-up is lost).
        let mut assume = 0;
        let mut turns = 0u32;
        let mut liveness_at: Option<Instant> = None;
        // The last turn ended in FUTEX_WAIT: the word is tried once more before the deadline
        // is looked at (glibc's timed lock checks its deadline only in the kernel's wait), so
        // that a locker woken by an unlock takes the free mutex even if its deadline passed
        // meanwhile. The deadline still bounds the call: every other turn checks it, and a
        // sleep never goes past it.
        let mut slept = false;
        // A FUTEX_WAKE (an unlock wakes one sleeper) may have been taken by this thread and
        // not passed on: until the word has an owner and FUTEX_WAITERS again (its unlock
        // then wakes a sleeper) or this thread holds it (with FUTEX_WAITERS, so its unlock
        // wakes one), giving up must wake another sleeper, or one may sleep on a free mutex.
        let mut owe_wake = false;
        loop {
            if turns > 0 && !slept {
                match wait {
                    Wait::No(_) if turns >= TRY_TURNS => return Err(MutexError::sys(EBUSY)),
                    Wait::Until(deadline) if Instant::now() >= deadline => {
                        return Err(give_up(w.lock(), owe_wake, MutexError::sys(ETIMEDOUT)))
                    }
                    _ => {}
                }
            }
            slept = false;
            turns = turns.saturating_add(1);
            if let Err(e) = check_lock_word(old) {
                return Err(give_up(w.lock(), owe_wake, e));
            }
            if old == 0 {
                // Acquire: pairs with the Release swap of the last unlock.
                match w.lock().compare_exchange(
                    0,
                    id | assume,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return self.acquired_clean(w, tail, head),
                    Err(now) => {
                        old = now;
                        continue;
                    }
                }
            }
            if old & FUTEX_OWNER_DIED != 0 {
                // The kernel marked the holder dead: take it over as glibc does.
                match self.take_over(w, old, assume, tail, head) {
                    Ok(acquired) => return Ok(acquired),
                    Err(now) => {
                        old = now;
                        continue;
                    }
                }
            }
            let holder = old & FUTEX_TID_MASK;
            if holder == id {
                // glibc: "Check whether we already hold the mutex." This thread may hold it
                // through this module at another address of the same memory, or through
                // glibc: then its entry is in our record or on glibc's part of the list.
                // With both empty, no guard for it can exist on this thread: the word is
                // stale (a peer wrote our id, or put it back after our unlock), and is
                // taken over as a vanished holder's would be.
                if self.len == 0 && head.list() == head.addr() {
                    match self.take_over(w, old, assume, tail, head) {
                        Ok(acquired) => return Ok(acquired),
                        Err(now) => {
                            old = now;
                            continue;
                        }
                    }
                }
                // Maybe held: a second lock is refused (an error, not a hang).
                return Err(give_up(w.lock(), owe_wake, MutexError::sys(EDEADLK)));
            }
            let deadline = match wait {
                Wait::No(reap) => {
                    if reap && !process::thread_exists(holder) {
                        match self.take_over(w, old, assume, tail, head) {
                            Ok(acquired) => return Ok(acquired),
                            Err(now) => {
                                old = now;
                                continue;
                            }
                        }
                    }
                    return Err(MutexError::sys(EBUSY));
                }
                Wait::Forever => None,
                Wait::Until(deadline) => Some(deadline),
            };
            if old & FUTEX_WAITERS == 0 {
                if let Err(now) = w.lock().compare_exchange(
                    old,
                    old | FUTEX_WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    old = now;
                    continue;
                }
                old |= FUTEX_WAITERS;
            }
            assume |= FUTEX_WAITERS;
            // The word has an owner and FUTEX_WAITERS: that owner's unlock wakes a sleeper.
            owe_wake = false;
            let now = Instant::now();
            if let Some(deadline) = deadline {
                if now >= deadline {
                    return Err(MutexError::sys(ETIMEDOUT));
                }
            }
            let check_at = *liveness_at.get_or_insert(now + LIVENESS_PERIOD);
            if now >= check_at {
                liveness_at = Some(now + LIVENESS_PERIOD);
                if !process::thread_exists(holder) {
                    // Its holder is gone and the kernel did not mark the word (a list a
                    // peer broke, or a word a peer wrote): what the kernel would have done.
                    match self.take_over(w, old, assume, tail, head) {
                        Ok(acquired) => return Ok(acquired),
                        Err(now) => {
                            old = now;
                            continue;
                        }
                    }
                }
            }
            let mut sleep =
                liveness_at.map_or(LIVENESS_PERIOD, |at| at.saturating_duration_since(now));
            if let Some(deadline) = deadline {
                sleep = sleep.min(deadline.saturating_duration_since(now));
            }
            if !sleep.is_zero() {
                // Woken (`Ok`, or a spurious return): maybe by an unlock's FUTEX_WAKE, which
                // is owed to the other sleepers until settled. Any other outcome (EAGAIN
                // because the word changed, EINTR, the time ran out) took no wake-up.
                // Either way: look at the word again.
                if futex::wait(w.lock(), old, Some(sleep)).is_ok() {
                    owe_wake = true;
                }
                slept = true;
            }
            old = w.lock().load(Ordering::Relaxed);
        }
    }

    /// Takes over a word `old` whose holder died (or vanished): our id, keeping
    /// `FUTEX_WAITERS`. `Err` with the current word if it changed meanwhile.
    fn take_over(
        &mut self,
        w: &Words<'_>,
        old: u32,
        assume: u32,
        tail: usize,
        head: RobustHead,
    ) -> Result<Acquired, u32> {
        let new = self.tid | (old & FUTEX_WAITERS) | assume;
        w.lock()
            .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)?;
        w.count().store(1, Ordering::Relaxed);
        // Inconsistent until the caller repairs the data and says so.
        w.owner().store(OWNER_INCONSISTENT, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        self.enqueue(w, tail, head);
        compiler_fence(Ordering::SeqCst);
        head.set_pending(0);
        // `__nusers` is not counted up: the dead holder's count stays (as in glibc).
        Ok(Acquired::OwnerDied)
    }

    /// The end of a clean acquisition: the state checks glibc makes, and ours.
    #[inline]
    fn acquired_clean(
        &mut self,
        w: &Words<'_>,
        tail: usize,
        head: RobustHead,
    ) -> Result<Acquired, MutexError> {
        let id = self.tid;
        let owner = w.owner().load(Ordering::Relaxed);
        let count = w.count().load(Ordering::Relaxed);
        if owner != 0 || count > 1 {
            return Err(refuse_acquired(w, id, owner, count));
        }
        w.count().store(1, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        self.enqueue(w, tail, head);
        compiler_fence(Ordering::SeqCst);
        head.set_pending(0);
        w.owner().store(id, Ordering::Relaxed);
        let users = w.nusers().load(Ordering::Relaxed);
        w.nusers().store(users.wrapping_add(1), Ordering::Relaxed);
        Ok(Acquired::Clean)
    }

    /// Unlock, fast path: our newest entry (last in the list), every word as this thread
    /// left it (the usual case); anything else takes `unlock_checked`.
    #[inline]
    fn unlock(&mut self, w: &Words<'_>, inconsistent: bool) -> Result<(), MutexError> {
        let n = self.len;
        if n == 0 || inconsistent {
            return self.unlock_checked(w, inconsistent);
        }
        let e = w.entry();
        let head = self.head();
        let h = head.addr();
        let id = self.tid;
        // The entry before it: our previous one; for our only one, the head, unless glibc's
        // entries come first (then `unlock_checked` finds the last of them).
        let before = if n >= 2 { self.held[n - 2] } else { h };
        if self.held[n - 1] != e
            || w.kind().load(Ordering::Relaxed) != KIND
            || w.lock().load(Ordering::Relaxed) & !FUTEX_WAITERS != id
            || w.owner().load(Ordering::Relaxed) != id
            || w.count().load(Ordering::Relaxed) != 1
            || w.prev().load(Ordering::Relaxed) != before
            || w.next().load(Ordering::Relaxed) != h
            || (n == 1 && head.list() != e)
        {
            return self.unlock_checked(w, inconsistent);
        }
        head.set_pending(e);
        compiler_fence(Ordering::SeqCst);
        // DEQUEUE_MUTEX of the last entry: the one before it now ends the list.
        if n >= 2 {
            // SAFETY: our entry n - 2: held, mapped (RobustLock::new).
            let (_, next) = unsafe { raw::links(before) };
            next.store(h, Ordering::Relaxed);
        } else {
            head.set_list(h);
        }
        head.set_prev(before);
        compiler_fence(Ordering::SeqCst);
        w.prev().store(0, Ordering::Relaxed);
        w.next().store(0, Ordering::Relaxed);
        self.len = n - 1;
        w.owner().store(0, Ordering::Relaxed);
        let users = w.nusers().load(Ordering::Relaxed);
        w.nusers().store(users.wrapping_sub(1), Ordering::Relaxed);
        release(w.lock(), id);
        compiler_fence(Ordering::SeqCst);
        head.set_pending(0);
        if self.len != 0 {
            self.refresh(h);
        }
        Ok(())
    }

    /// Unlock, every case: each word is checked, and put back if a peer rewrote it.
    #[inline(never)]
    fn unlock_checked(&mut self, w: &Words<'_>, inconsistent: bool) -> Result<(), MutexError> {
        let e = w.entry();
        let Some(i) = self.find(e) else {
            // Not locked by this thread through this module (a guard inherited across
            // fork): glibc would refuse too; repairing its words would steal the lock.
            return Err(MutexError::sys(EPERM));
        };
        let id = self.tid;
        let head = self.head();
        // This thread holds the lock, so it knows what every word must hold: each is read
        // once, a different value noted (and put back where the next holder reads it).
        let mut found = Vec::new();
        let kind = w.kind().load(Ordering::Relaxed);
        if kind != KIND {
            found.push(format!("__kind was {kind:#x}"));
            w.kind().store(KIND, Ordering::Relaxed);
        }
        let lock = w.lock().load(Ordering::Relaxed);
        let mine = lock & !FUTEX_WAITERS == id;
        if !mine {
            found.push(format!("__lock was {}", describe_lock(lock)));
        }
        let want_owner = if inconsistent { OWNER_INCONSISTENT } else { id };
        let owner = w.owner().load(Ordering::Relaxed);
        if owner != want_owner {
            found.push(format!("__owner was {}", describe_owner(owner)));
        }
        let count = w.count().load(Ordering::Relaxed);
        if count != 1 {
            found.push(format!("__count was {count}"));
            w.count().store(1, Ordering::Relaxed);
        }
        let before = self.before(i, head);
        match before {
            Some(want_prev) => {
                let prev = w.prev().load(Ordering::Relaxed);
                if prev != want_prev {
                    found.push(format!(
                        "__list.__prev was {prev:#x} (this thread's robust list says {want_prev:#x})"
                    ));
                }
            }
            None => found.push(
                "this thread's robust list, followed from its head through the entries glibc linked, no longer reached the mutex (it was unlinked from this module's record only)"
                    .into(),
            ),
        }
        let want_next = self.next_of(i, head.addr());
        let next = w.next().load(Ordering::Relaxed);
        if next != want_next {
            found.push(format!(
                "__list.__next was {next:#x} (this thread's robust list says {want_next:#x})"
            ));
        }
        head.set_pending(e);
        compiler_fence(Ordering::SeqCst);
        self.dequeue(i, before, head);
        let new_owner = if inconsistent {
            OWNER_NOTRECOVERABLE
        } else {
            0
        };
        w.owner().store(new_owner, Ordering::Relaxed);
        let users = w.nusers().load(Ordering::Relaxed);
        w.nusers().store(users.wrapping_sub(1), Ordering::Relaxed);
        release(w.lock(), id);
        compiler_fence(Ordering::SeqCst);
        head.set_pending(0);
        self.refresh(head.addr());
        if found.is_empty() {
            Ok(())
        } else {
            Err(MutexError::corrupt(format!(
                "{}; the words were put back and the mutex unlocked",
                found.join("; ")
            )))
        }
    }
}

/// Releases a lock word this thread holds: 0, and a wake-up for a waiter if the word said
/// there may be one. If the word no longer named this thread (rewritten by a peer while
/// held), every waiter is woken, to look at the word again.
#[inline]
fn release(lock: &AtomicU32, id: u32) {
    // Release: the critical section happens before the next holder's acquiring CAS.
    let old = lock.swap(0, Ordering::Release);
    if old & !FUTEX_WAITERS != id {
        let _ = futex::wake(lock, i32::MAX);
    } else if old & FUTEX_WAITERS != 0 {
        let _ = futex::wake(lock, 1);
    }
}

/// A clean acquisition found `__owner` or `__count` not as the last unlock leaves them:
/// `PTHREAD_MUTEX_NOTRECOVERABLE` (glibc's `ENOTRECOVERABLE`), or a value no correct party
/// writes. The lock word is released again either way.
#[cold]
fn refuse_acquired(w: &Words<'_>, id: u32, owner: u32, count: u32) -> MutexError {
    if owner == OWNER_NOTRECOVERABLE {
        w.count().store(0, Ordering::Relaxed);
        release(w.lock(), id);
        return MutexError::sys(ENOTRECOVERABLE);
    }
    release(w.lock(), id);
    let what = if owner != 0 {
        format!(
            "__owner is {} while __lock is 0 (unlocked); glibc leaves 0 or PTHREAD_MUTEX_NOTRECOVERABLE there",
            describe_owner(owner)
        )
    } else {
        format!(
            "__count is {count}; glibc sets 1 on lock and 0 when not recoverable (this mutex is not recursive)"
        )
    };
    MutexError::corrupt(format!("{what}; the lock was released again"))
}

#[cold]
fn corrupt_kind(kind: u32) -> MutexError {
    MutexError::corrupt(format!(
        "__kind is {kind:#x}, not {KIND:#x} (robust, error-checking, process-shared) as created"
    ))
}

fn check_kind(kind: u32) -> Result<(), MutexError> {
    if kind == KIND {
        Ok(())
    } else {
        Err(corrupt_kind(kind))
    }
}

/// Refuses a lock word no correct party writes.
fn check_lock_word(lock: u32) -> Result<(), MutexError> {
    let tid = lock & FUTEX_TID_MASK;
    let what = if lock & FUTEX_OWNER_DIED != 0 {
        if tid == 0 {
            return Ok(());
        }
        "FUTEX_OWNER_DIED together with a thread id, which the kernel never writes"
    } else if tid == 0 {
        if lock == 0 {
            return Ok(());
        }
        "FUTEX_WAITERS without an owner, which no unlock leaves (lockers would sleep with nobody to wake them)"
    } else if tid >= PID_MAX_LIMIT {
        "no thread has an id at or above 4194304 (PID_MAX_LIMIT)"
    } else {
        return Ok(());
    };
    Err(MutexError::corrupt(format!(
        "__lock is {}: {what}",
        describe_lock(lock)
    )))
}

fn describe_lock(l: u32) -> String {
    let mut parts = vec![format!("thread id {}", l & FUTEX_TID_MASK)];
    if l & FUTEX_OWNER_DIED != 0 {
        parts.push("FUTEX_OWNER_DIED".into());
    }
    if l & FUTEX_WAITERS != 0 {
        parts.push("FUTEX_WAITERS".into());
    }
    format!("{l:#010x} ({})", parts.join(" | "))
}

fn describe_owner(o: u32) -> String {
    match o {
        OWNER_INCONSISTENT => format!("{o:#x} (PTHREAD_MUTEX_INCONSISTENT)"),
        OWNER_NOTRECOVERABLE => format!("{o:#x} (PTHREAD_MUTEX_NOTRECOVERABLE)"),
        _ => format!("{o}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::pthread::init_robust_shared;
    use std::mem::MaybeUninit;

    /// A robust mutex on the heap (private memory: the protocol does not care).
    struct Heap(Box<MaybeUninit<PthreadMutex>>);

    impl Heap {
        fn new() -> Heap {
            let mut m = Box::new(MaybeUninit::<PthreadMutex>::zeroed());
            // SAFETY: fresh, aligned, private memory.
            unsafe { init_robust_shared(m.as_mut_ptr()) }.unwrap();
            Heap(m)
        }
        fn ptr(&self) -> *mut PthreadMutex {
            self.0.as_ptr().cast_mut()
        }
        fn lock(&self) -> RobustLock<'_> {
            // SAFETY: initialised, and alive (and so mapped) for the borrow; every test
            // unlocks what it locks before the mutex is dropped.
            unsafe { RobustLock::new(self.ptr()) }
        }
        fn words(&self) -> Words<'_> {
            // SAFETY: as in `lock`.
            unsafe { raw::words(self.ptr()) }
        }
        fn entry(&self) -> usize {
            self.words().entry()
        }
    }

    /// This thread's robust list as the kernel would walk it: the entries from the head.
    fn walk() -> Vec<usize> {
        let head = RobustHead::current().unwrap();
        let mut out = Vec::new();
        let mut cur = head.list();
        while cur != head.addr() {
            out.push(cur);
            // SAFETY: every entry on this thread's list is a live heap mutex of the test.
            cur = unsafe { std::ptr::read_volatile(cur as *const usize) };
            assert!(out.len() < 100, "a loop in the list");
        }
        out
    }

    fn corrupt(r: Result<Acquired, MutexError>) -> String {
        match r {
            Err(MutexError::Corrupt(what)) => *what,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    /// The words and list links after a lock and an unlock are the ones glibc leaves: the
    /// same mutex locked by glibc and by the protocol, side by side.
    #[test]
    fn the_protocol_leaves_the_words_glibc_leaves() {
        let (ours, theirs) = (Heap::new(), Heap::new());
        let tid = raw::gettid();
        let state = |h: &Heap| {
            let w = h.words();
            (
                w.lock().load(Ordering::Relaxed),
                w.count().load(Ordering::Relaxed),
                w.owner().load(Ordering::Relaxed),
                w.nusers().load(Ordering::Relaxed),
                w.kind().load(Ordering::Relaxed),
            )
        };
        assert_eq!(ours.lock().lock(), Ok(Acquired::Clean));
        assert_eq!(state(&ours), (tid, 1, tid, 1, KIND));
        assert_eq!(walk(), vec![ours.entry()]);
        ours.lock().unlock(false).unwrap();
        // SAFETY: an initialised mutex, locked and unlocked by this thread.
        unsafe {
            assert_eq!(libc::pthread_mutex_lock(theirs.ptr()), 0);
            assert_eq!(state(&theirs), (tid, 1, tid, 1, KIND));
            assert_eq!(libc::pthread_mutex_unlock(theirs.ptr()), 0);
        }
        assert_eq!(state(&ours), state(&theirs));
        assert_eq!(state(&ours), (0, 1, 0, 0, KIND));
        assert_eq!(walk(), Vec::<usize>::new());
        // Deadlock, not a hang; busy for another thread.
        assert_eq!(ours.lock().lock(), Ok(Acquired::Clean));
        assert_eq!(ours.lock().lock(), Err(MutexError::sys(EDEADLK)));
        assert_eq!(ours.lock().try_lock(), Err(MutexError::sys(EDEADLK)));
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(ours.lock().try_lock(), Err(MutexError::sys(EBUSY))));
        });
        ours.lock().unlock(false).unwrap();
        assert_eq!(ours.lock().unlock(false), Err(MutexError::sys(EPERM)));
    }

    #[test]
    fn values_no_correct_party_writes_are_corrupt_and_nothing_stays_locked() {
        type Scribble = fn(&Words<'_>);
        let cases: [(Scribble, &str); 6] = [
            (|w| w.kind().store(0, Ordering::Relaxed), "__kind is 0x0"),
            (
                |w| w.owner().store(4242, Ordering::Relaxed),
                "__owner is 4242",
            ),
            (|w| w.count().store(2, Ordering::Relaxed), "__count is 2"),
            (
                |w| w.lock().store(FUTEX_WAITERS, Ordering::Relaxed),
                "FUTEX_WAITERS without",
            ),
            (
                |w| w.lock().store(FUTEX_OWNER_DIED | 77, Ordering::Relaxed),
                "FUTEX_OWNER_DIED together",
            ),
            (
                |w| w.lock().store(FUTEX_TID_MASK, Ordering::Relaxed),
                "PID_MAX_LIMIT",
            ),
        ];
        for (write, says) in cases {
            let m = Heap::new();
            write(&m.words());
            let deadline = Instant::now() + Duration::from_secs(60);
            for what in [
                corrupt(m.lock().lock()),
                corrupt(m.lock().try_lock()),
                corrupt(m.lock().lock_until(deadline)),
            ] {
                assert!(what.contains(says), "{says}: {what}");
            }
            assert_eq!(walk(), Vec::<usize>::new(), "{says}: nothing linked");
        }
    }

    #[test]
    fn unlock_puts_back_the_words_and_unlinks() {
        let (a, b) = (Heap::new(), Heap::new());
        let _restore = Restore::new();
        let head = RobustHead::current().unwrap().addr();
        assert_eq!(a.lock().lock(), Ok(Acquired::Clean));
        assert_eq!(b.lock().lock(), Ok(Acquired::Clean));
        // Linked at the tail: the older one first.
        assert_eq!(walk(), vec![a.entry(), b.entry()]);
        assert_list(&[a.entry(), b.entry()], "both held");
        // A peer hides `b` from the kernel's walk; another lock call puts `__next` back.
        a.words().next().store(0x10, Ordering::Relaxed);
        let c = Heap::new();
        assert_eq!(c.lock().try_lock(), Ok(Acquired::Clean));
        c.lock().unlock(false).unwrap();
        assert_eq!(a.words().next().load(Ordering::Relaxed), b.entry());
        assert_eq!(walk(), vec![a.entry(), b.entry()]);
        let w = b.words();
        w.kind().store(0, Ordering::Relaxed);
        w.owner().store(4242, Ordering::Relaxed);
        w.prev().store(0, Ordering::Relaxed);
        w.next().store(0x10, Ordering::Relaxed);
        let what = match b.lock().unlock(false) {
            Err(MutexError::Corrupt(what)) => *what,
            other => panic!("{other:?}"),
        };
        for says in [
            "__kind was 0x0",
            "__owner was 4242",
            "__list.__prev was 0x0",
            "__list.__next was 0x10",
            "unlocked",
        ] {
            assert!(what.contains(says), "{what}");
        }
        assert_eq!(w.kind().load(Ordering::Relaxed), KIND);
        assert_eq!(w.lock().load(Ordering::Relaxed), 0);
        assert_eq!(walk(), vec![a.entry()]);
        assert_list(&[a.entry()], "b unlocked");
        let (prev, next) = (a.words().prev(), a.words().next());
        assert_eq!(
            (prev.load(Ordering::Relaxed), next.load(Ordering::Relaxed)),
            (head, head)
        );
        a.lock().unlock(false).unwrap();
        assert_eq!(b.lock().lock(), Ok(Acquired::Clean), "usable again");
        b.lock().unlock(false).unwrap();
        assert_list(&[], "all unlocked");
    }

    /// Robust mutexes this thread locks through glibc directly, interleaved with the
    /// protocol's, unlocked in an order that makes each side unlink entries next to the
    /// other's: the list stays exactly the held set, glibc's entries first (newest first,
    /// glibc links at the front) and then the protocol's (oldest first, it links at the
    /// tail), so that glibc never rewrites the `__next` of one of ours.
    #[test]
    fn entries_glibc_links_come_first_and_ours_last_whatever_the_order() {
        let (g1, s1, g2, s2) = (Heap::new(), Heap::new(), Heap::new(), Heap::new());
        let _restore = Restore::new();
        let check = |want: &[&Heap], what: &str| {
            let want: Vec<usize> = want.iter().map(|h| h.entry()).collect();
            assert_list(&want, what);
            assert_eq!(walk(), want, "{what}");
        };
        glock(&g1);
        assert_eq!(s1.lock().lock(), Ok(Acquired::Clean));
        check(&[&g1, &s1], "g1, then s1 after it");
        glock(&g2);
        assert_eq!(s2.lock().lock(), Ok(Acquired::Clean));
        check(&[&g2, &g1, &s1, &s2], "all four");
        // Our oldest, right after glibc's entries: found by walking through them.
        s1.lock().unlock(false).unwrap();
        check(&[&g2, &g1, &s2], "s1 unlocked");
        // glibc's, right before ours: glibc rewrites our `__prev` (never our `__next`).
        gunlock(&g1);
        check(&[&g2, &s2], "g1 unlocked");
        gunlock(&g2);
        check(&[&s2], "g2 unlocked");
        assert_eq!(s1.lock().lock(), Ok(Acquired::Clean));
        check(&[&s2, &s1], "s1 again");
        // glibc's entry in front of ours while they are unlocked out of order.
        glock(&g1);
        check(&[&g1, &s2, &s1], "g1 again");
        s2.lock().unlock(false).unwrap();
        check(&[&g1, &s1], "s2 unlocked");
        s1.lock().unlock(false).unwrap();
        check(&[&g1], "s1 unlocked");
        // Our first lock while glibc holds entries: linked after the last of them.
        assert_eq!(s2.lock().lock(), Ok(Acquired::Clean));
        check(&[&g1, &s2], "s2 after g1");
        gunlock(&g1);
        s2.lock().unlock(false).unwrap();
        check(&[], "all unlocked");
    }

    /// Locks `h` through glibc (`pthread_mutex_lock`), as C code in this thread would.
    fn glock(h: &Heap) {
        // SAFETY: an initialised mutex, alive until the test unlocks it.
        assert_eq!(unsafe { libc::pthread_mutex_lock(h.ptr()) }, 0);
    }

    /// Unlocks `h` through glibc.
    fn gunlock(h: &Heap) {
        // SAFETY: held by this thread through glibc.
        assert_eq!(unsafe { libc::pthread_mutex_unlock(h.ptr()) }, 0);
    }

    /// Empties this thread's robust list if a failed test left entries on it (which may
    /// point at heap mutexes about to be freed, or form a loop): without it, the kernel
    /// would walk them when the test thread exits. Declared after the mutexes, so that it
    /// runs before they are freed.
    struct Restore(RobustHead);

    impl Restore {
        fn new() -> Restore {
            Restore(RobustHead::current().unwrap())
        }
    }

    impl Drop for Restore {
        fn drop(&mut self) {
            let h = self.0.addr();
            if self.0.list() != h || self.0.prev() != h {
                self.0.set_list(h);
                self.0.set_prev(h);
                self.0.set_pending(0);
            }
        }
    }

    /// Checks this thread's robust list as the kernel and glibc see it: from the head, every
    /// entry once (no loop), each entry's `__prev` naming the one before it (what glibc's
    /// unlink reads), `robust_prev` naming the last; and the entries are exactly `held`
    /// (in any order).
    fn assert_list(held: &[usize], what: &str) {
        let head = RobustHead::current().unwrap();
        let h = head.addr();
        let mut seen = Vec::new();
        let mut before = h;
        let mut cur = head.list() & !1;
        while cur != h {
            assert!(
                seen.len() < 16 && !seen.contains(&cur),
                "{what}: a loop in the list: {seen:#x?}, then {cur:#x} again"
            );
            assert!(
                held.contains(&cur),
                "{what}: the list reaches {cur:#x}, which is not held (held: {held:#x?})"
            );
            // SAFETY: a held heap mutex of the test (checked just above).
            let (prev, next) = unsafe { raw::links(cur) };
            assert_eq!(
                prev.load(Ordering::Relaxed),
                before,
                "{what}: __prev of {cur:#x}"
            );
            seen.push(cur);
            before = cur;
            cur = next.load(Ordering::Relaxed) & !1;
        }
        assert_eq!(head.prev(), before, "{what}: robust_prev");
        let (mut a, mut b) = (seen.clone(), held.to_vec());
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "{what}: the list is the held set");
    }

    /// The same thread locks a mutex whose word already names it. While this thread may hold
    /// it (it holds some robust mutex: through glibc, whose entry at that address this
    /// module cannot tell from the mutex's, or through this module, maybe at another
    /// mapping of the same memory), every lock call gives `EDEADLK`, as glibc's
    /// error-checking mutex does, and the word is left alone: a takeover would make a
    /// second guard over the same memory on the same thread. While it holds none, no guard
    /// for it can exist on this thread, so the word is stale (a peer wrote this thread's id
    /// into it, or put it back after this thread's unlock): every lock call takes it over
    /// as owner-died. That case used to be `EDEADLK` too, for ever: the hostile soak's
    /// untimed locks in other processes then waited for a thread that held nothing.
    #[test]
    fn a_lock_word_naming_this_thread_is_deadlock_while_it_holds_a_robust_mutex_else_owner_died() {
        let (g, s, p) = (Heap::new(), Heap::new(), Heap::new());
        let _restore = Restore::new();
        let tid = raw::gettid();
        // Lock call `k` of the four kinds.
        let call = |h: &Heap, k: usize| match k {
            0 => h.lock().lock(),
            1 => h.lock().try_lock(),
            2 => h.lock().try_lock_or_reap(),
            _ => h
                .lock()
                .lock_until(Instant::now() + Duration::from_secs(60)),
        };
        let calls = |h: &Heap| (0..4).map(|k| call(h, k)).collect::<Vec<_>>();
        glock(&g);
        for r in calls(&g) {
            assert_eq!(r, Err(MutexError::sys(EDEADLK)), "held through glibc");
        }
        let w = g.words();
        assert_eq!(w.lock().load(Ordering::Relaxed), tid);
        assert_eq!(w.owner().load(Ordering::Relaxed), tid, "still consistent");
        assert_list(&[g.entry()], "glibc's entry only");
        // Another mutex names this thread while glibc holds `g` for it: maybe `g`'s memory
        // mapped twice, so it stays refused.
        p.words().lock().store(tid, Ordering::Relaxed);
        for r in calls(&p) {
            assert_eq!(
                r,
                Err(MutexError::sys(EDEADLK)),
                "a word naming this thread, which holds a mutex through glibc"
            );
        }
        gunlock(&g);
        assert_list(&[], "empty");
        // The same while this module holds `s` for this thread.
        assert_eq!(s.lock().lock(), Ok(Acquired::Clean));
        for r in calls(&p) {
            assert_eq!(
                r,
                Err(MutexError::sys(EDEADLK)),
                "a word naming this thread, which holds a mutex through this module"
            );
        }
        assert_eq!(p.words().lock().load(Ordering::Relaxed), tid, "untouched");
        assert_list(&[s.entry()], "only s");
        s.lock().unlock(false).unwrap();
        assert_list(&[], "empty");
        // Holding nothing: stale, taken over by every kind of lock call (with and without
        // FUTEX_WAITERS, which a takeover keeps so that the unlock wakes a sleeper).
        for i in 0..8 {
            let waiters = if i < 4 { 0 } else { FUTEX_WAITERS };
            p.words().lock().store(tid | waiters, Ordering::Relaxed);
            let r = call(&p, i % 4);
            assert_eq!(
                r,
                Ok(Acquired::OwnerDied),
                "call {i}: stale word, held nothing"
            );
            let w = p.words();
            assert_eq!(w.lock().load(Ordering::Relaxed), tid | waiters);
            assert_eq!(w.owner().load(Ordering::Relaxed), OWNER_INCONSISTENT);
            assert_list(&[p.entry()], "the taken-over mutex");
            p.lock().mark_consistent().unwrap();
            p.lock().unlock(false).unwrap();
            assert_eq!(p.words().lock().load(Ordering::Relaxed), 0);
            assert_list(&[], "empty");
        }
        assert_eq!(p.lock().lock(), Ok(Acquired::Clean));
        p.lock().unlock(false).unwrap();
    }

    /// glibc locks G, this module locks S, glibc unlocks G (and rewrites the list links next
    /// to G), then a peer rewrites S's `__list.__prev` and `__list.__next` to point at private
    /// memory of this process: S's unlock reports them and neither reads nor writes through
    /// them. Three timings: the peer writes right after glibc's unlock; another lock and
    /// unlock come in between; G is still held when S is unlocked. The unlock used to read
    /// S's `__next` from the mutex once the entry it named (G) was glibc's, and write
    /// through it (`__prev` of the peer's target, and the list head).
    #[test]
    fn an_unlock_next_to_glibc_entries_follows_no_pointer_from_the_mutex() {
        let target = Box::new([0x1111usize, 0x2222]);
        // An entry's `__prev` is the word before it: the peer aims both at `target`.
        let x = &target[1] as *const usize as usize;
        for case in [
            "glibc unlocked first",
            "a call in between",
            "glibc still holds G",
        ] {
            let (g, s, c) = (Heap::new(), Heap::new(), Heap::new());
            let restore = Restore::new();
            glock(&g);
            assert_eq!(s.lock().lock(), Ok(Acquired::Clean));
            if case != "glibc still holds G" {
                gunlock(&g);
                assert_list(&[s.entry()], case);
            }
            s.words().next().store(x, Ordering::Relaxed);
            s.words().prev().store(x, Ordering::Relaxed);
            if case == "a call in between" {
                assert_eq!(c.lock().lock(), Ok(Acquired::Clean));
                c.lock().unlock(false).unwrap();
            }
            let unlocked = s.lock().unlock(false);
            assert_eq!(
                *target,
                [0x1111, 0x2222],
                "{case}: the unlock wrote through a pointer from the mutex"
            );
            let what = match unlocked {
                Err(MutexError::Corrupt(what)) => *what,
                other => panic!("{case}: {other:?}"),
            };
            assert!(
                what.contains(&format!("__list.__prev was {x:#x}")),
                "{case}: {what}"
            );
            if case != "a call in between" {
                assert!(
                    what.contains(&format!("__list.__next was {x:#x}")),
                    "{case}: {what}"
                );
            }
            assert_eq!(
                s.words().lock().load(Ordering::Relaxed),
                0,
                "{case}: unlocked"
            );
            if case == "glibc still holds G" {
                assert_list(&[g.entry()], case);
                gunlock(&g);
            }
            assert_list(&[], case);
            drop(restore);
        }
    }

    /// glibc locks M, this module locks S, glibc unlocks M, and this module locks M itself:
    /// a link that named glibc's M must not count as naming ours. Then another lock, and
    /// the unlocks in another order: the list stays exactly the held set, without a loop,
    /// and ends empty. A link recorded while M was glibc's used to become "trusted" once M
    /// was relocked here, and was written back into S's `__next`: a loop, and the head left
    /// naming an unlocked mutex.
    #[test]
    fn a_relocked_address_never_turns_a_stale_link_into_a_loop() {
        let (m, s, c) = (Heap::new(), Heap::new(), Heap::new());
        let _restore = Restore::new();
        glock(&m);
        assert_eq!(s.lock().lock(), Ok(Acquired::Clean));
        gunlock(&m);
        assert_list(&[s.entry()], "glibc unlocked M");
        assert_eq!(m.lock().lock(), Ok(Acquired::Clean));
        assert_list(&[s.entry(), m.entry()], "M locked here");
        assert_eq!(c.lock().lock(), Ok(Acquired::Clean));
        assert_list(&[s.entry(), m.entry(), c.entry()], "C locked");
        assert_eq!(s.lock().unlock(false), Ok(()));
        assert_list(&[m.entry(), c.entry()], "S unlocked");
        assert_eq!(c.lock().unlock(false), Ok(()));
        assert_list(&[m.entry()], "C unlocked");
        assert_eq!(m.lock().unlock(false), Ok(()));
        assert_list(&[], "all unlocked");
    }

    /// A glibc-linked entry whose `__next` is null or misaligned (as a peer could make it if
    /// that mutex lived in shared memory): the walk through glibc's entries stops there with
    /// `Corrupt`, without following it. A lock is then not taken (the word stays free); an
    /// unlock of our oldest entry still unlocks and reports it.
    #[test]
    fn a_broken_link_in_glibcs_entries_is_corrupt_and_never_followed() {
        for bad in [0usize, 0x1234_5674] {
            let (g, s) = (Heap::new(), Heap::new());
            let _restore = Restore::new();
            let h = RobustHead::current().unwrap().addr();
            glock(&g);
            g.words().next().store(bad, Ordering::Relaxed);
            let what = corrupt(s.lock().lock());
            assert!(
                what.contains("does not come back to the head"),
                "{bad:#x}: {what}"
            );
            assert_eq!(s.words().lock().load(Ordering::Relaxed), 0, "not taken");
            g.words().next().store(h, Ordering::Relaxed);
            assert_eq!(s.lock().lock(), Ok(Acquired::Clean));
            assert_list(&[g.entry(), s.entry()], "s after g");
            g.words().next().store(bad, Ordering::Relaxed);
            let what = match s.lock().unlock(false) {
                Err(MutexError::Corrupt(what)) => *what,
                other => panic!("{bad:#x}: {other:?}"),
            };
            assert!(
                what.contains("no longer reached the mutex"),
                "{bad:#x}: {what}"
            );
            assert_eq!(s.words().lock().load(Ordering::Relaxed), 0, "unlocked");
            // Repaired as glibc had it (s is no longer linked), glibc unlocks its own.
            g.words().next().store(h, Ordering::Relaxed);
            gunlock(&g);
            assert_list(&[], "all unlocked");
        }
    }
}
