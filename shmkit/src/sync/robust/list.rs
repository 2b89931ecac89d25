//! This thread's record of the robust mutexes it holds through [`RobustLock`](super::RobustLock),
//! and its robust list: linking and unlinking entries without following pointers from shared
//! memory.
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
//! the next locker finds them through the liveness check of a waiting lock, up to
//! [`LIVENESS_PERIOD`](super::types::LIVENESS_PERIOD) later).

use super::types::{MutexError, MAX_HELD};
use crate::sys::pthread::{self as raw, RobustHead, Words};
use std::cell::RefCell;
use std::sync::atomic::{compiler_fence, AtomicBool, Ordering};

/// The most entries walked in this thread's list (the kernel's `ROBUST_LIST_LIMIT`).
const WALK_LIMIT: usize = 2048;

/// This thread's view of its robust list. (`repr(C)`: the words every call reads come
/// first, on the cache line of the first entries.)
#[repr(C)]
pub(super) struct ThreadList {
    /// This thread's id (`gettid(2)` is a system call: asked once per thread, and again in
    /// the child of a fork).
    pub(super) tid: u32,
    /// How many entries of `held` are in use.
    pub(super) len: usize,
    /// The robust-list head glibc registered; `None` until first used (and after a fork).
    pub(super) head: Option<RobustHead>,
    /// The entries (addresses of `__list.__next`) this module linked and has not unlinked,
    /// oldest first: the last `len` entries of the list, in this order (the invariant in the
    /// module docs). What each one's `__next` must hold follows from it: the next one here,
    /// or the head after the last.
    pub(super) held: [usize; MAX_HELD],
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
pub(super) fn with_thread<R>(
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
    pub(super) fn head(&self) -> RobustHead {
        self.head.expect("with_thread sets the head first")
    }

    /// Where `entry` is in the record.
    pub(super) fn find(&self, entry: usize) -> Option<usize> {
        self.held[..self.len].iter().rposition(|&e| e == entry)
    }

    /// What the `__next` of our entry `i` holds: our next entry, or the head after our last.
    #[inline]
    pub(super) fn next_of(&self, i: usize, h: usize) -> usize {
        if i + 1 < self.len {
            self.held[i + 1]
        } else {
            h
        }
    }

    /// Rewrites the `__next` of every entry this thread holds from the record, so that a
    /// value a peer wrote there hides none of them from the kernel's death walk after this
    /// call.
    pub(super) fn refresh(&self, h: usize) {
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
    pub(super) fn tail(&self, head: RobustHead) -> Result<usize, MutexError> {
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
    pub(super) fn enqueue(&mut self, w: &Words<'_>, tail: usize, head: RobustHead) {
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
    pub(super) fn before(&self, i: usize, head: RobustHead) -> Option<usize> {
        if i > 0 {
            Some(self.held[i - 1])
        } else {
            self.glibc_before(self.held[0], head)
        }
    }

    /// `DEQUEUE_MUTEX` of our entry `i`, whose predecessor is `before` (`None`: unknown,
    /// then it only leaves the record), with every link taken from the record, none read from
    /// the mutex.
    pub(super) fn dequeue(&mut self, i: usize, before: Option<usize>, head: RobustHead) {
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
}
