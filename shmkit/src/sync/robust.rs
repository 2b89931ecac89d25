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
//! `__owner = PTHREAD_MUTEX_INCONSISTENT`; otherwise set `FUTEX_WAITERS` and `FUTEX_WAIT`
//! (shared) on the word. Once acquired: `__owner == PTHREAD_MUTEX_NOTRECOVERABLE` means
//! release again and fail with `ENOTRECOVERABLE`; else `__count = 1`, link the mutex at the
//! head of this thread's robust list, clear `list_op_pending`, `__owner = id`, `__nusers += 1`.
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
//! `futex_offset` (-32) away (checked when the head is first used).
//!
//! glibc's `DEQUEUE_MUTEX` follows the unlocked mutex's `__next` and `__prev` and writes
//! through them: a peer that rewrites them makes glibc write where the peer chose. Here
//! every thread keeps a shadow of the entries it linked, oldest first, with what it wrote
//! into each entry's `__next`. Unlinking walks from the head (in glibc's thread descriptor,
//! private memory) using the shadow's `__next` for our entries: it never reads a pointer from
//! a mutex of ours, so nothing a peer writes there is ever dereferenced. At every lock and
//! unlock the `__next` of every mutex this thread still holds is rewritten from the shadow,
//! so a peer that rewrites one can hide this thread's other held mutexes from the kernel's
//! death walk only until this thread's next call (the window: if the thread dies in it, the
//! hidden mutexes keep its dead id instead of `FUTEX_OWNER_DIED`, and the next locker
//! finds them through the liveness check below, up to [`LIVENESS_PERIOD`] later).
//!
//! Entries that this module did not link (robust mutexes this thread locked through glibc
//! directly) are stepped over as glibc would: their `__next` is read from their memory, and
//! an entry of ours whose shadow `__next` names one of them is read from memory too (glibc
//! rewrites it when it unlinks its mutex). Only while such a mutex is held, a peer that can
//! write *that* mutex's words (or ours, next to it) can make the walk follow its pointers,
//! as it could make glibc's own unlock do.
//!
//! # Words from other processes
//!
//! Every word is loaded once per use into a local and validated: a lock word no correct
//! party writes (`FUTEX_WAITERS` with no owner, `FUTEX_OWNER_DIED` with a thread id, a
//! thread id at or above `PID_MAX_LIMIT`), a `__kind` other than the one created, an
//! `__owner` other than 0 or `PTHREAD_MUTEX_NOTRECOVERABLE` in a mutex just acquired free, or
//! a `__count` above 1, gives [`MutexError::Corrupt`] naming the word (a lock acquired to read
//! them is released again). Timed locks check their deadline at every turn of the loop and
//! sleep at most until it, so a peer that keeps rewriting the word cannot keep them past it.
//! A lock word naming a thread that does not exist (checked every [`LIVENESS_PERIOD`] of
//! waiting, with `kill(tid, 0)`) is taken over as owner-died, as the kernel would have marked
//! it; so is one naming this thread while it does not hold the mutex.
//!
//! # Not supported
//! - Locking or unlocking from a signal handler that interrupted a call of this module on
//!   the same thread (the thread's shadow is in use: the call fails with
//!   [`MutexError::Unsupported`]; and a handler that unlocks what the interrupted code
//!   holds breaks mutual exclusion anyway). `fork` from such a handler leaves the child's
//!   shadow stale.
//! - More than [`MAX_HELD`] of these mutexes held by one thread at once.

use crate::sys::pthread::{
    self as raw, PthreadMutex, RobustHead, Words, EBUSY, EDEADLK, ENOTRECOVERABLE, EPERM,
    ETIMEDOUT, FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, KIND, OWNER_INCONSISTENT,
    OWNER_NOTRECOVERABLE, PID_MAX_LIMIT,
};
use crate::sys::{futex, process, Errno};
use std::cell::RefCell;
use std::sync::atomic::{compiler_fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How many of these mutexes one thread can hold at once (the size of its shadow list,
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
    /// `EDEADLK` (this thread holds it), `ENOTRECOVERABLE`, `EPERM` (unlock of a mutex this
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

/// An entry of this thread's robust list that this module linked.
#[derive(Clone, Copy)]
struct Node {
    /// The entry (the address of the mutex's `__list.__next`).
    entry: usize,
    /// What the entry's `__next` must hold: what this module wrote there. If it names an
    /// entry this module did not link, glibc may have rewritten the word since (when it
    /// unlinked that entry), and the word is read instead.
    next: usize,
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
    /// The entries this module linked and has not unlinked, oldest first.
    held: [Node; MAX_HELD],
}

thread_local! {
    /// No destructor (every field is `Copy`): usable until the thread's very end.
    static THREAD: RefCell<ThreadList> = const {
        RefCell::new(ThreadList {
            tid: 0,
            len: 0,
            head: None,
            held: [Node { entry: 0, next: 0 }; MAX_HELD],
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

impl ThreadList {
    /// Gets this thread's robust-list head and id (once per thread, and after a fork).
    #[cold]
    fn init(&mut self) -> Result<(), MutexError> {
        static AT_FORK: std::sync::Once = std::sync::Once::new();
        AT_FORK.call_once(|| {
            // A failure (ENOMEM) leaves a child of fork with its parent's view: see the
            // module docs (fork is then not supported while locks are held).
            let _ = raw::at_fork_in_child(forget_after_fork);
        });
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

    /// Where `entry` is in the shadow.
    fn find(&self, entry: usize) -> Option<usize> {
        self.held[..self.len].iter().rposition(|n| n.entry == entry)
    }

    /// Whether `next` is a value this module can vouch for: the head or one of its entries.
    fn trusted(&self, next: usize, head: usize) -> bool {
        next == head || self.find(next).is_some()
    }

    /// Our entry `i`'s `__next`: the shadow's, unless it names an entry glibc linked.
    fn next_of(&mut self, i: usize, head: usize) -> usize {
        let node = self.held[i];
        if self.trusted(node.next, head) {
            return node.next;
        }
        // SAFETY: our entry: a mutex this thread holds, mapped while held (RobustLock::new).
        let (_, next) = unsafe { raw::links(node.entry) };
        // glibc may have unlinked the entry named in the shadow, and written its successor
        // here: the word is what glibc's list says (see the module docs for what this trusts).
        let now = next.load(Ordering::Relaxed);
        self.held[i].next = now;
        now
    }

    /// Rewrites the `__next` of every entry this thread holds from the shadow (those whose
    /// shadow names the head or another of our entries), so that a value a peer wrote there
    /// hides none of them from the kernel's death walk after this call.
    fn refresh(&self, head: usize) {
        for node in &self.held[..self.len] {
            if self.trusted(node.next, head) {
                // SAFETY: our entry, held, mapped (RobustLock::new).
                let (_, next) = unsafe { raw::links(node.entry) };
                if next.load(Ordering::Relaxed) != node.next {
                    next.store(node.next, Ordering::Relaxed);
                }
            }
        }
    }

    /// Stores `value` into the `__prev` of entry `at` (the head's `robust_prev`, one of our
    /// entries, or one glibc linked), as glibc's list macros do.
    #[inline]
    fn set_prev_of(&self, at: usize, value: usize, head: RobustHead) {
        if at == head.addr() {
            head.set_prev(value);
        } else if at != 0 && at % 8 == 0 {
            // SAFETY: `at` is on this thread's list: one of our entries (held, mapped), or
            // one glibc linked, which is a robust mutex this thread holds through glibc and
            // whose memory its user keeps mapped while held, as glibc's own unlock requires.
            let (prev, _) = unsafe { raw::links(at) };
            prev.store(value, Ordering::Relaxed);
        }
    }

    /// Stores `value` into the `__next` of entry `at` (the head's `list`, one of our
    /// entries, or one glibc linked), keeping the shadow in step.
    fn set_next_of(&mut self, at: usize, value: usize, head: RobustHead) {
        if at == head.addr() {
            head.set_list(value);
            return;
        }
        if let Some(j) = self.find(at) {
            self.held[j].next = value;
        }
        // SAFETY: as in `set_prev_of`: `at` is on this thread's list.
        let (_, next) = unsafe { raw::links(at) };
        next.store(value, Ordering::Relaxed);
    }

    /// `ENQUEUE_MUTEX`: links the mutex at the head of the list.
    #[inline]
    fn enqueue(&mut self, w: &Words<'_>, head: RobustHead) {
        let e = w.entry();
        let first = head.list();
        // The current first entry's `__prev` now names us (glibc: `next->__prev = entry`).
        self.set_prev_of(first & !1, e, head);
        w.next().store(first, Ordering::Relaxed);
        w.prev().store(head.addr(), Ordering::Relaxed);
        // The entry is complete before the head points at it (the kernel may walk the list
        // at any instruction, if this thread dies).
        compiler_fence(Ordering::SeqCst);
        head.set_list(e);
        self.held[self.len] = Node {
            entry: e,
            next: first,
        };
        self.len += 1;
    }

    /// The entry whose `__next` is `e` (the head if `e` is first), walking from the head
    /// with the shadow; `None` if `e` is not reachable.
    fn predecessor(&mut self, e: usize, head: RobustHead) -> Option<usize> {
        let h = head.addr();
        let mut prev = h;
        let mut cur = head.list() & !1;
        for _ in 0..WALK_LIMIT {
            if cur == e {
                return Some(prev);
            }
            if cur == h || cur == 0 || cur % 8 != 0 {
                return None;
            }
            let next = match self.find(cur) {
                Some(j) => self.next_of(j, h),
                None => {
                    // SAFETY: an entry this module did not link, reached through glibc's
                    // own links: a robust mutex this thread holds through glibc, mapped
                    // while held (as in `set_prev_of`). Read as glibc's unlock would.
                    let (_, next) = unsafe { raw::links(cur) };
                    next.load(Ordering::Relaxed)
                }
            };
            prev = cur;
            cur = next & !1;
        }
        None
    }

    /// `DEQUEUE_MUTEX` of our entry `i`, without reading its links from its memory (only
    /// from the shadow). Returns whether the entry was found in the list.
    fn dequeue(&mut self, i: usize, head: RobustHead) -> bool {
        let e = self.held[i].entry;
        let next = self.next_of(i, head.addr());
        let prev = self.predecessor(e, head);
        if let Some(prev) = prev {
            self.set_prev_of(next & !1, prev, head);
            self.set_next_of(prev, next, head);
        }
        // Out of the list before its own links are cleared.
        compiler_fence(Ordering::SeqCst);
        // SAFETY: our entry, held until the release that follows (RobustLock::new).
        let (p, n) = unsafe { raw::links(e) };
        p.store(0, Ordering::Relaxed);
        n.store(0, Ordering::Relaxed);
        for j in i..self.len - 1 {
            self.held[j] = self.held[j + 1];
        }
        self.len -= 1;
        prev.is_some()
    }

    /// Whether the list is exactly the shadow (no entry glibc linked): then every
    /// neighbour of our entries is known.
    fn pure(&self, head: RobustHead) -> bool {
        let h = head.addr();
        let newest = self.len.checked_sub(1).map_or(h, |i| self.held[i].entry);
        head.list() == newest
            && self.held[..self.len]
                .iter()
                .enumerate()
                .all(|(i, n)| n.next == if i == 0 { h } else { self.held[i - 1].entry })
    }

    #[inline]
    fn lock(&mut self, w: &Words<'_>, wait: Wait) -> Result<Acquired, MutexError> {
        let kind = w.kind().load(Ordering::Relaxed);
        if kind != KIND {
            return Err(corrupt_kind(kind));
        }
        let head = self.head();
        let e = w.entry();
        if self.len != 0 {
            self.refresh(head.addr());
            if self.len == MAX_HELD {
                return Err(self.full(e));
            }
        }
        // The kernel handles a pending entry too if this thread dies from here on (a word
        // acquired but not yet linked).
        head.set_pending(e);
        compiler_fence(Ordering::SeqCst);
        // glibc's first attempt: 0 → our id. Acquire: pairs with the Release swap of the
        // last unlock.
        let result =
            match w
                .lock()
                .compare_exchange(0, self.tid, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => self.acquired_clean(w, head),
                Err(_) => self.acquire(w, wait, head),
            };
        if result.is_err() {
            compiler_fence(Ordering::SeqCst);
            head.set_pending(0);
        }
        result
    }

    #[cold]
    fn full(&self, e: usize) -> MutexError {
        if self.find(e).is_some() {
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
        head: RobustHead,
    ) -> Result<Acquired, MutexError> {
        let id = self.tid;
        let e = w.entry();
        let mut old = w.lock().load(Ordering::Relaxed);
        // glibc's `assume_other_futex_waiters`: once we slept, others may sleep too, so the
        // word we leave must keep FUTEX_WAITERS (or a wake-up is lost).
        let mut assume = 0;
        let mut turns = 0u32;
        let mut liveness_at: Option<Instant> = None;
        loop {
            if turns > 0 {
                match wait {
                    Wait::No(_) if turns >= TRY_TURNS => return Err(MutexError::sys(EBUSY)),
                    Wait::Until(deadline) if Instant::now() >= deadline => {
                        return Err(MutexError::sys(ETIMEDOUT))
                    }
                    _ => {}
                }
            }
            turns = turns.saturating_add(1);
            check_lock_word(old)?;
            if old == 0 {
                // Acquire: pairs with the Release swap of the last unlock.
                match w.lock().compare_exchange(
                    0,
                    id | assume,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return self.acquired_clean(w, head),
                    Err(now) => {
                        old = now;
                        continue;
                    }
                }
            }
            let holder = old & FUTEX_TID_MASK;
            let ours = holder == id;
            if old & FUTEX_OWNER_DIED != 0 || (ours && self.find(e).is_none()) {
                // The kernel marked the holder dead; or the word names this thread, which
                // does not hold the mutex: nobody does. Take it over as glibc does.
                match self.take_over(w, old, assume, head) {
                    Ok(acquired) => return Ok(acquired),
                    Err(now) => {
                        old = now;
                        continue;
                    }
                }
            }
            if ours {
                return Err(MutexError::sys(EDEADLK));
            }
            let deadline = match wait {
                Wait::No(reap) => {
                    if reap && !process::thread_exists(holder) {
                        match self.take_over(w, old, assume, head) {
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
            let now = Instant::now();
            let check_at = *liveness_at.get_or_insert(now + LIVENESS_PERIOD);
            if now >= check_at {
                liveness_at = Some(now + LIVENESS_PERIOD);
                if !process::thread_exists(holder) {
                    // Its holder is gone and the kernel did not mark the word (a list a
                    // peer broke, or a word a peer wrote): what the kernel would have done.
                    match self.take_over(w, old, assume, head) {
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
                // Any outcome (woken, EAGAIN because the word changed, EINTR, the time ran
                // out) leads to the same: look at the word again.
                let _ = futex::wait(w.lock(), old, Some(sleep));
            }
            old = w.lock().load(Ordering::Relaxed);
        }
    }

    /// Takes over a word `old` whose holder died (or is not holding it): our id, keeping
    /// `FUTEX_WAITERS`. `Err` with the current word if it changed meanwhile.
    fn take_over(
        &mut self,
        w: &Words<'_>,
        old: u32,
        assume: u32,
        head: RobustHead,
    ) -> Result<Acquired, u32> {
        let new = self.tid | (old & FUTEX_WAITERS) | assume;
        w.lock()
            .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)?;
        w.count().store(1, Ordering::Relaxed);
        // Inconsistent until the caller repairs the data and says so.
        w.owner().store(OWNER_INCONSISTENT, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        self.enqueue(w, head);
        compiler_fence(Ordering::SeqCst);
        head.set_pending(0);
        // `__nusers` is not counted up: the dead holder's count stays (as in glibc).
        Ok(Acquired::OwnerDied)
    }

    /// The end of a clean acquisition: the state checks glibc makes, and ours.
    #[inline]
    fn acquired_clean(&mut self, w: &Words<'_>, head: RobustHead) -> Result<Acquired, MutexError> {
        let id = self.tid;
        let owner = w.owner().load(Ordering::Relaxed);
        let count = w.count().load(Ordering::Relaxed);
        if owner != 0 || count > 1 {
            return Err(refuse_acquired(w, id, owner, count));
        }
        w.count().store(1, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        self.enqueue(w, head);
        compiler_fence(Ordering::SeqCst);
        head.set_pending(0);
        w.owner().store(id, Ordering::Relaxed);
        let users = w.nusers().load(Ordering::Relaxed);
        w.nusers().store(users.wrapping_add(1), Ordering::Relaxed);
        Ok(Acquired::Clean)
    }

    /// Unlock, fast path: the newest entry, every word as this thread left it, and the
    /// list exactly the shadow (the usual case); anything else takes `unlock_checked`.
    #[inline]
    fn unlock(&mut self, w: &Words<'_>, inconsistent: bool) -> Result<(), MutexError> {
        let n = self.len;
        if n == 0 || inconsistent {
            return self.unlock_checked(w, inconsistent);
        }
        let e = w.entry();
        let node = self.held[n - 1];
        let head = self.head();
        let h = head.addr();
        let id = self.tid;
        let older = if n >= 2 { self.held[n - 2].entry } else { h };
        if node.entry != e
            || node.next != older
            || w.kind().load(Ordering::Relaxed) != KIND
            || w.lock().load(Ordering::Relaxed) & !FUTEX_WAITERS != id
            || w.owner().load(Ordering::Relaxed) != id
            || w.count().load(Ordering::Relaxed) != 1
            || w.prev().load(Ordering::Relaxed) != h
            || w.next().load(Ordering::Relaxed) != older
            || head.list() != e
        {
            return self.unlock_checked(w, inconsistent);
        }
        head.set_pending(e);
        compiler_fence(Ordering::SeqCst);
        // DEQUEUE_MUTEX of the first entry: the head now points at the next one, whose
        // `__prev` is the head.
        head.set_list(older);
        self.set_prev_of(older, h, head);
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
        if self.pure(head) {
            let h = head.addr();
            let want_prev = if i + 1 < self.len {
                self.held[i + 1].entry
            } else {
                h
            };
            let want_next = self.held[i].next;
            let prev = w.prev().load(Ordering::Relaxed);
            if prev != want_prev {
                found.push(format!(
                    "__list.__prev was {prev:#x} (this thread's robust list says {want_prev:#x})"
                ));
            }
            let next = w.next().load(Ordering::Relaxed);
            if next != want_next {
                found.push(format!(
                    "__list.__next was {next:#x} (this thread's robust list says {want_next:#x})"
                ));
            }
        }
        head.set_pending(e);
        compiler_fence(Ordering::SeqCst);
        let linked = self.dequeue(i, head);
        if !linked {
            found.push(
                "this thread's robust list no longer reached the mutex (it was unlinked from the shadow only)"
                    .into(),
            );
        }
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
        let head = RobustHead::current().unwrap().addr();
        assert_eq!(a.lock().lock(), Ok(Acquired::Clean));
        assert_eq!(b.lock().lock(), Ok(Acquired::Clean));
        assert_eq!(walk(), vec![b.entry(), a.entry()]);
        let w = b.words();
        w.kind().store(0, Ordering::Relaxed);
        w.owner().store(4242, Ordering::Relaxed);
        w.next().store(0x10, Ordering::Relaxed);
        // Another lock call puts `__next` back at once.
        let c = Heap::new();
        assert_eq!(c.lock().try_lock(), Ok(Acquired::Clean));
        c.lock().unlock(false).unwrap();
        assert_eq!(w.next().load(Ordering::Relaxed), a.entry());
        assert_eq!(walk(), vec![b.entry(), a.entry()]);
        w.prev().store(0, Ordering::Relaxed);
        let what = match b.lock().unlock(false) {
            Err(MutexError::Corrupt(what)) => *what,
            other => panic!("{other:?}"),
        };
        for says in [
            "__kind was 0x0",
            "__owner was 4242",
            "__list.__prev was 0x0",
            "unlocked",
        ] {
            assert!(what.contains(says), "{what}");
        }
        assert_eq!(w.kind().load(Ordering::Relaxed), KIND);
        assert_eq!(w.lock().load(Ordering::Relaxed), 0);
        assert_eq!(walk(), vec![a.entry()]);
        let (prev, next) = (a.words().prev(), a.words().next());
        assert_eq!(
            (prev.load(Ordering::Relaxed), next.load(Ordering::Relaxed)),
            (head, head)
        );
        a.lock().unlock(false).unwrap();
        assert_eq!(b.lock().lock(), Ok(Acquired::Clean), "usable again");
        b.lock().unlock(false).unwrap();
    }

    /// Robust mutexes this thread locks through glibc directly, interleaved with the
    /// protocol's, unlocked in an order that makes each side unlink entries next to the
    /// other's (and glibc rewrite the `__next` of one of ours): the list stays exactly the
    /// held set, in lock order, throughout.
    #[test]
    fn entries_glibc_links_in_between_are_stepped_over_as_glibc_would() {
        let (g1, s1, g2, s2) = (Heap::new(), Heap::new(), Heap::new(), Heap::new());
        let glock = |h: &Heap| {
            // SAFETY: an initialised mutex, unlocked by this thread below.
            assert_eq!(unsafe { libc::pthread_mutex_lock(h.ptr()) }, 0);
        };
        let gunlock = |h: &Heap| {
            // SAFETY: held by this thread.
            assert_eq!(unsafe { libc::pthread_mutex_unlock(h.ptr()) }, 0);
        };
        glock(&g1);
        assert_eq!(s1.lock().lock(), Ok(Acquired::Clean));
        glock(&g2);
        assert_eq!(s2.lock().lock(), Ok(Acquired::Clean));
        assert_eq!(walk(), vec![s2.entry(), g2.entry(), s1.entry(), g1.entry()]);
        // Ours in the middle, between two of glibc's.
        s1.lock().unlock(false).unwrap();
        assert_eq!(walk(), vec![s2.entry(), g2.entry(), g1.entry()]);
        // glibc's oldest: glibc follows the links the protocol left.
        gunlock(&g1);
        assert_eq!(walk(), vec![s2.entry(), g2.entry()]);
        // glibc's, right behind ours: glibc rewrites our `__next`.
        gunlock(&g2);
        assert_eq!(walk(), vec![s2.entry()]);
        // A lock call must not put back the stale `__next` (it named glibc's entry).
        assert_eq!(s1.lock().lock(), Ok(Acquired::Clean));
        assert_eq!(walk(), vec![s1.entry(), s2.entry()]);
        s2.lock().unlock(false).unwrap();
        s1.lock().unlock(false).unwrap();
        assert_eq!(walk(), Vec::<usize>::new());
    }
}
