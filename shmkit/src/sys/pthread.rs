//! Robust, process-shared `pthread_mutex_t`: initialisation through glibc, and the raw
//! plumbing the lock protocol in [`sync::robust`](crate::sync) runs on: the mutex's words
//! as atomics, this thread's robust-list head in glibc's thread descriptor, and `gettid`.
//! Its one user is the raw robust lock (`sync::robust::RobustLock`), which `RobustMutex` and
//! `SeqLock` reach it through.
//!
//! Only `pthread_mutex_init` (with its attributes) is called here: locking and unlocking are
//! glibc's own robust-mutex protocol re-implemented in `sync::robust` on the same words, so
//! that a C program locking the same mutex with `pthread_mutex_lock` interoperates, but no
//! glibc code ever runs on words that another process may be rewriting.
//!
//! This module never calls `set_robust_list(2)`: glibc registers each thread's robust list
//! with the kernel itself, and registering another one would silently replace glibc's and
//! break the owner-died recovery of every robust mutex locked through glibc. The protocol
//! links its mutexes into glibc's list, exactly as glibc does.

use super::Errno;
use libc::pthread_mutex_t;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// The size of a `pthread_mutex_t`.
pub(crate) const MUTEX_SIZE: usize = std::mem::size_of::<pthread_mutex_t>();
/// The alignment of a `pthread_mutex_t`.
pub(crate) const MUTEX_ALIGN: usize = std::mem::align_of::<pthread_mutex_t>();

pub(crate) use libc::pthread_mutex_t as PthreadMutex;
/// The error numbers glibc's mutex calls return, which the protocol returns for the same
/// outcomes.
pub(crate) use libc::{EBUSY, EDEADLK, ENOTRECOVERABLE, EPERM, ETIMEDOUT};

fn check(rc: libc::c_int) -> Result<(), Errno> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(rc))
    }
}

/// Initialises `*mutex` as a robust (`PTHREAD_MUTEX_ROBUST`), process-shared
/// (`PTHREAD_PROCESS_SHARED`), error-checking (`PTHREAD_MUTEX_ERRORCHECK`) mutex.
///
/// # Errors
/// glibc's error, or `ENOTSUP` when this glibc writes another `__kind` than [`KIND`] (the
/// protocol in `sync::robust` is glibc 2.36's for exactly that kind).
///
/// # Safety
/// `mutex` must point at `MUTEX_SIZE` writable bytes, aligned to `MUTEX_ALIGN`, that no
/// thread or process uses as a mutex during the call.
pub(crate) unsafe fn init_robust_shared(mutex: *mut pthread_mutex_t) -> Result<(), Errno> {
    let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: `attr` is writable storage for a pthread_mutexattr_t; init fills it.
    check(unsafe { libc::pthread_mutexattr_init(attr.as_mut_ptr()) })?;
    // SAFETY: `attr` was initialised above and is destroyed below on every path; `mutex`
    // is valid per the caller's contract.
    let result = unsafe {
        check(libc::pthread_mutexattr_setpshared(
            attr.as_mut_ptr(),
            libc::PTHREAD_PROCESS_SHARED,
        ))
        .and_then(|()| {
            check(libc::pthread_mutexattr_setrobust(
                attr.as_mut_ptr(),
                libc::PTHREAD_MUTEX_ROBUST,
            ))
        })
        .and_then(|()| {
            check(libc::pthread_mutexattr_settype(
                attr.as_mut_ptr(),
                libc::PTHREAD_MUTEX_ERRORCHECK,
            ))
        })
        .and_then(|()| check(libc::pthread_mutex_init(mutex, attr.as_ptr())))
    };
    // SAFETY: `attr` was initialised by pthread_mutexattr_init.
    unsafe { libc::pthread_mutexattr_destroy(attr.as_mut_ptr()) };
    result?;
    // The protocol follows glibc for exactly this kind: make sure this glibc writes it.
    // SAFETY: per the caller's contract; nobody else uses the memory yet.
    if unsafe { words(mutex) }.kind().load(Ordering::Relaxed) != KIND {
        return Err(Errno::from_raw(libc::ENOTSUP));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The words glibc keeps in the mutex.
// ---------------------------------------------------------------------------------------------

#[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
compile_error!(
    "shmkit's robust mutex follows glibc's 64-bit `struct __pthread_mutex_s` layout and \
     robust-list protocol: only 64-bit Linux with glibc is supported"
);

/// glibc's `struct __pthread_mutex_s` on 64-bit Linux (`sysdeps/nptl/bits/struct_mutex.h`),
/// the words inside a `pthread_mutex_t`. Only its field offsets are used: the words are read
/// and written one by one, atomically, because other processes write them concurrently.
/// The layout is checked against libc (size, alignment) and against what glibc writes (the
/// offsets) in this module's tests.
#[repr(C)]
#[allow(dead_code)] // never constructed: a description of the layout
pub(crate) struct RawMutex {
    /// `__lock`: the futex word: owner's thread id | `FUTEX_OWNER_DIED` | `FUTEX_WAITERS`.
    lock: u32,
    /// `__count`: recursion count (1 once locked, 0 when not-recoverable).
    count: u32,
    /// `__owner`: the owner's thread id, 0, or `PTHREAD_MUTEX_INCONSISTENT`/`NOTRECOVERABLE`.
    owner: i32,
    /// `__nusers`: incremented on lock, decremented on unlock.
    nusers: u32,
    /// `__kind`: type, robust, protocol and process-shared bits.
    kind: i32,
    /// `__spins` (adaptive mutexes only).
    spins: i16,
    /// `__elision` (elided mutexes only).
    elision: i16,
    /// `__list.__prev`: the robust-list entry locked after this one, or the thread's list head.
    prev: usize,
    /// `__list.__next`: the robust-list entry locked before this one, or the thread's list
    /// head. The thread's list points at this field (the "entry" of the mutex).
    next: usize,
}

const OFF_LOCK: usize = std::mem::offset_of!(RawMutex, lock);
const OFF_COUNT: usize = std::mem::offset_of!(RawMutex, count);
const OFF_OWNER: usize = std::mem::offset_of!(RawMutex, owner);
const OFF_NUSERS: usize = std::mem::offset_of!(RawMutex, nusers);
const OFF_KIND: usize = std::mem::offset_of!(RawMutex, kind);
const OFF_PREV: usize = std::mem::offset_of!(RawMutex, prev);
const OFF_NEXT: usize = std::mem::offset_of!(RawMutex, next);

// Layout asserts against libc: the mirror must cover exactly a `pthread_mutex_t`.
const _: () = assert!(std::mem::size_of::<RawMutex>() == MUTEX_SIZE);
const _: () = assert!(std::mem::align_of::<RawMutex>() == MUTEX_ALIGN);
// A list entry is the address of `__next`; `__prev` is the word before it (glibc's
// `QUEUE_PTR_ADJUST`), and the lock word is `FUTEX_OFFSET` bytes from the entry.
const _: () = assert!(OFF_NEXT == OFF_PREV + 8);

/// What glibc stores in `robust_list_head.futex_offset` (`nptl/nptl-init.c`,
/// `offsetof (pthread_mutex_t, __data.__lock) - offsetof (pthread_mutex_t,
/// __data.__list.__next)`): the kernel finds a listed mutex's lock word at entry + this.
pub(crate) const FUTEX_OFFSET: isize = OFF_LOCK as isize - OFF_NEXT as isize;

/// glibc's internal `PTHREAD_MUTEX_ROBUST_NORMAL_NP` bit of `__kind` (`pthreadP.h`).
const KIND_ROBUST: u32 = 16;
/// glibc's `PTHREAD_MUTEX_PSHARED_BIT` of `__kind`.
const KIND_PSHARED: u32 = 128;
/// The `__kind` [`init_robust_shared`] makes: `PTHREAD_MUTEX_ROBUST_ERRORCHECK_NP`
/// (robust | error-checking) | `PTHREAD_MUTEX_PSHARED_BIT`, protocol none (no priority
/// inheritance or ceiling bits), no elision bits: 0x92.
pub(crate) const KIND: u32 = KIND_ROBUST | libc::PTHREAD_MUTEX_ERRORCHECK as u32 | KIND_PSHARED;

/// glibc's `PTHREAD_MUTEX_INCONSISTENT` (`INT_MAX`): `__owner` of a mutex acquired with
/// `EOWNERDEAD` and not yet marked consistent.
pub(crate) const OWNER_INCONSISTENT: u32 = i32::MAX as u32;
/// glibc's `PTHREAD_MUTEX_NOTRECOVERABLE` (`INT_MAX - 1`).
pub(crate) const OWNER_NOTRECOVERABLE: u32 = i32::MAX as u32 - 1;

/// `FUTEX_WAITERS` (`linux/futex.h`): someone may sleep on the word.
pub(crate) const FUTEX_WAITERS: u32 = 0x8000_0000;
/// `FUTEX_OWNER_DIED`: set by the kernel in the word of a mutex its holder died holding.
pub(crate) const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// `FUTEX_TID_MASK`: the holder's thread id.
pub(crate) const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Linux's `PID_MAX_LIMIT` on 64-bit: every thread id is below it.
pub(crate) const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;

/// The words of one mutex, as atomics.
///
/// Every access is atomic because other processes write these words at any time (a peer
/// following the protocol, or one scribbling). glibc itself accesses them with plain loads
/// and stores, but only from threads of *other* processes (or of this one, in calls not
/// concurrent with ours on the same thread), so no access here races a non-atomic one in
/// this process's memory model.
#[derive(Clone, Copy)]
pub(crate) struct Words<'a> {
    base: *mut u8,
    mapped: PhantomData<&'a AtomicU32>,
}

impl<'a> Words<'a> {
    fn word(&self, off: usize) -> &'a AtomicU32 {
        // SAFETY: `off` is the offset of a 4-byte field, so the word is in bounds of the
        // mutex and 4-aligned (the mutex is 8-aligned); it stays mapped for 'a and is only
        // accessed atomically in this process (the contract of `words`).
        unsafe { AtomicU32::from_ptr(self.base.add(off).cast()) }
    }

    fn pointer(&self, off: usize) -> &'a AtomicUsize {
        // SAFETY: as in `word`, for an 8-byte field at a multiple of 8.
        unsafe { AtomicUsize::from_ptr(self.base.add(off).cast()) }
    }

    /// `__lock`.
    pub(crate) fn lock(&self) -> &'a AtomicU32 {
        self.word(OFF_LOCK)
    }

    /// `__count`.
    pub(crate) fn count(&self) -> &'a AtomicU32 {
        self.word(OFF_COUNT)
    }

    /// `__owner`.
    pub(crate) fn owner(&self) -> &'a AtomicU32 {
        self.word(OFF_OWNER)
    }

    /// `__nusers`.
    pub(crate) fn nusers(&self) -> &'a AtomicU32 {
        self.word(OFF_NUSERS)
    }

    /// `__kind`.
    pub(crate) fn kind(&self) -> &'a AtomicU32 {
        self.word(OFF_KIND)
    }

    /// `__list.__prev`.
    pub(crate) fn prev(&self) -> &'a AtomicUsize {
        self.pointer(OFF_PREV)
    }

    /// `__list.__next`.
    pub(crate) fn next(&self) -> &'a AtomicUsize {
        self.pointer(OFF_NEXT)
    }

    /// The mutex's robust-list entry: the address of its `__list.__next`, which is what
    /// glibc links into a thread's robust list (and what the kernel walks).
    pub(crate) fn entry(&self) -> usize {
        self.base as usize + OFF_NEXT
    }
}

/// The words of the mutex at `mutex`.
///
/// # Safety
/// `mutex` must point at a `pthread_mutex_t` (aligned, `MUTEX_SIZE` bytes) that stays
/// mapped for `'a`; nothing in this process may access it non-atomically during `'a`.
pub(crate) unsafe fn words<'a>(mutex: *mut pthread_mutex_t) -> Words<'a> {
    Words {
        base: mutex.cast(),
        mapped: PhantomData,
    }
}

/// The `(__list.__prev, __list.__next)` words of the mutex whose robust-list entry is
/// `entry` (the address of its `__next`; `__prev` is the word before).
///
/// # Safety
/// `entry` must be the entry of a mutex that stays mapped for `'a` (for example one this
/// thread holds, whose memory its holder keeps mapped), 8-aligned.
pub(crate) unsafe fn links<'a>(entry: usize) -> (&'a AtomicUsize, &'a AtomicUsize) {
    let next = entry as *mut usize;
    // SAFETY: per the caller's contract both words are mapped and 8-aligned (the entry is
    // 8-aligned, and the word before it too); only atomic accesses are made.
    unsafe {
        (
            AtomicUsize::from_ptr(next.sub(1)),
            AtomicUsize::from_ptr(next),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// This thread's robust list head, in glibc's thread descriptor.
// ---------------------------------------------------------------------------------------------

/// The size of the kernel's `struct robust_list_head` on 64-bit: `list` (the first entry, or
/// the head itself when empty), `futex_offset`, `list_op_pending`.
const ROBUST_HEAD_LEN: usize = 24;

/// This thread's `struct robust_list_head`, which glibc keeps in the thread's descriptor and
/// registered with the kernel (`set_robust_list(2)`) when the thread started.
///
/// glibc 2.36 on 64-bit (`nptl/descr.h`): `void *robust_prev; struct robust_list_head
/// robust_head;`, the two together forming a list node whose `__next` is `robust_head.list`
/// and whose `__prev` is `robust_prev`: the list is circular through the head, and entries
/// point at `__next` (so the head's entry is the head's own address).
///
/// Only reachable from its own thread (it is not `Send`): the words are written only by this
/// thread (glibc's code, and the protocol) and read by the kernel when the thread exits.
#[derive(Clone, Copy)]
pub(crate) struct RobustHead {
    addr: usize,
    not_send: PhantomData<*const ()>,
}

impl RobustHead {
    /// `get_robust_list(2)` for this thread: the head glibc registered, checked to be glibc's
    /// (its size, and the `futex_offset` glibc stores).
    ///
    /// # Errors
    /// The call's error (`ENOSYS` on a kernel without robust futexes, `EPERM` under a
    /// seccomp policy that forbids it), or `ENOTSUP` for a head that is not glibc's layout.
    pub(crate) fn current() -> Result<RobustHead, Errno> {
        let mut head: *mut libc::c_void = std::ptr::null_mut();
        let mut len: libc::size_t = 0;
        // SAFETY: pid 0 names the calling thread; both out-pointers are valid for writes.
        // This only reads the registration (set_robust_list is never called here).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_get_robust_list,
                0 as libc::c_long,
                &mut head as *mut *mut libc::c_void,
                &mut len as *mut libc::size_t,
            )
        };
        if rc != 0 {
            return Err(Errno::last());
        }
        let addr = head as usize;
        if addr == 0 || addr % 8 != 0 || len != ROBUST_HEAD_LEN {
            return Err(Errno::from_raw(libc::ENOTSUP));
        }
        let this = RobustHead {
            addr,
            not_send: PhantomData,
        };
        if this.read(8) as isize != FUTEX_OFFSET {
            return Err(Errno::from_raw(libc::ENOTSUP));
        }
        Ok(this)
    }

    /// The head's address: its own entry, which ends the circular list.
    pub(crate) fn addr(&self) -> usize {
        self.addr
    }

    fn read(&self, off: usize) -> usize {
        // SAFETY: `addr` is this thread's robust_list_head (registered by glibc, 8-aligned,
        // 24 bytes: checked in `current`), alive as long as the thread, and this value is
        // only reachable from that thread; nothing writes the word concurrently (glibc
        // writes it only on this thread, not during this call).
        unsafe { std::ptr::read_volatile((self.addr + off) as *const usize) }
    }

    fn write(&self, off: usize, value: usize) {
        // SAFETY: as in `read`. Volatile, so that each store is made, in program order
        // with the other volatile and (after a compiler fence) atomic accesses: the kernel
        // reads these words after this thread died, at whatever instruction it died.
        unsafe { std::ptr::write_volatile((self.addr + off) as *mut usize, value) }
    }

    /// `robust_head.list`: the first entry (the most recently linked), or the head itself.
    pub(crate) fn list(&self) -> usize {
        self.read(0)
    }

    /// Sets `robust_head.list`.
    pub(crate) fn set_list(&self, entry: usize) {
        self.write(0, entry)
    }

    /// Sets `robust_head.list_op_pending` (0 for none): the entry of a mutex being locked or
    /// unlocked, which the kernel also handles when the thread dies.
    pub(crate) fn set_pending(&self, entry: usize) {
        self.write(16, entry)
    }

    /// `robust_prev`: the last entry of the list (the one whose `__next` is the head), or
    /// the head itself when the list is empty.
    #[cfg(test)]
    pub(crate) fn prev(&self) -> usize {
        // SAFETY: as in `set_prev`: the word before the head in glibc's descriptor, this
        // thread's, read on this thread.
        unsafe { std::ptr::read_volatile((self.addr as *const usize).sub(1)) }
    }

    /// Sets `robust_prev`, the `__prev` of the head's list node (the word before the head,
    /// in glibc's thread descriptor), as glibc's `ENQUEUE_MUTEX` and `DEQUEUE_MUTEX` do.
    pub(crate) fn set_prev(&self, entry: usize) {
        // SAFETY: glibc's descriptor has `void *robust_prev` right before `robust_head`
        // (`__PTHREAD_MUTEX_HAVE_PREV`, 64-bit; tested in this module), so the word is
        // mapped, 8-aligned and this thread's, as in `read`.
        unsafe { std::ptr::write_volatile((self.addr as *mut usize).sub(1), entry) }
    }
}

/// `gettid(2)`.
pub(crate) fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    (unsafe { libc::gettid() }) as u32
}

/// `pthread_atfork(NULL, NULL, child)`: `child` runs in the child of every later `fork`.
pub(crate) fn at_fork_in_child(child: extern "C" fn()) -> Result<(), Errno> {
    // SAFETY: registers a plain extern "C" fn, valid for the whole process.
    check(unsafe { libc::pthread_atfork(None, None, Some(child)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `pthread_mutex_t` on the heap, initialised robust and process-shared.
    struct Heap(Box<MaybeUninit<pthread_mutex_t>>);

    impl Heap {
        fn new() -> Heap {
            let mut m = Box::new(MaybeUninit::<pthread_mutex_t>::zeroed());
            // SAFETY: fresh, aligned, private memory.
            unsafe { init_robust_shared(m.as_mut_ptr()) }.unwrap();
            Heap(m)
        }
        fn ptr(&mut self) -> *mut pthread_mutex_t {
            self.0.as_mut_ptr()
        }
        fn words(&mut self) -> Words<'_> {
            // SAFETY: the mutex is alive and aligned for the borrow.
            unsafe { words(self.ptr()) }
        }
    }

    /// The mirror of `struct __pthread_mutex_s`, the robust-list head and the list layout,
    /// against libc and against what glibc itself writes when it locks and unlocks.
    #[test]
    fn raw_mutex_and_robust_list_layout_match_glibc() {
        assert_eq!(std::mem::size_of::<RawMutex>(), 40);
        assert_eq!((OFF_LOCK, OFF_COUNT, OFF_OWNER, OFF_NUSERS), (0, 4, 8, 12));
        assert_eq!((OFF_KIND, OFF_PREV, OFF_NEXT), (16, 24, 32));
        assert_eq!(FUTEX_OFFSET, -32);
        let head = RobustHead::current().expect("glibc registers a robust list");
        let h = head.addr();
        assert_eq!(head.list(), h, "empty: the list is the head itself");
        let tid = gettid();
        let (mut a, mut b) = (Heap::new(), Heap::new());
        assert_eq!(a.words().kind().load(Ordering::Relaxed), KIND);
        let (ea, eb) = (a.words().entry(), b.words().entry());
        // SAFETY: both are initialised robust mutexes, alive for the whole test; this thread
        // unlocks what it locks. glibc is the one locking here: this checks what it writes.
        unsafe {
            assert_eq!(libc::pthread_mutex_lock(a.ptr()), 0);
            let w = a.words();
            assert_eq!(w.lock().load(Ordering::Relaxed), tid);
            assert_eq!(w.owner().load(Ordering::Relaxed), tid);
            assert_eq!(w.count().load(Ordering::Relaxed), 1);
            assert_eq!(w.nusers().load(Ordering::Relaxed), 1);
            assert_eq!(head.list(), ea, "the list points at __list.__next");
            assert_eq!(
                (
                    w.prev().load(Ordering::Relaxed),
                    w.next().load(Ordering::Relaxed)
                ),
                (h, h)
            );
            // ENQUEUE_MUTEX wrote the head's own __prev: `robust_prev`, the word before it.
            assert_eq!(std::ptr::read_volatile((h as *const usize).sub(1)), ea);
            assert_eq!(libc::pthread_mutex_lock(b.ptr()), 0);
            assert_eq!(head.list(), eb);
            let (pa, na) = links(ea);
            let (pb, nb) = links(eb);
            assert_eq!(
                (pb.load(Ordering::Relaxed), nb.load(Ordering::Relaxed)),
                (h, ea)
            );
            assert_eq!(
                (pa.load(Ordering::Relaxed), na.load(Ordering::Relaxed)),
                (eb, h)
            );
            // Out of order: a first. DEQUEUE_MUTEX clears the entry's links.
            assert_eq!(libc::pthread_mutex_unlock(a.ptr()), 0);
            assert_eq!(
                (pa.load(Ordering::Relaxed), na.load(Ordering::Relaxed)),
                (0, 0)
            );
            assert_eq!(
                (pb.load(Ordering::Relaxed), nb.load(Ordering::Relaxed)),
                (h, h)
            );
            assert_eq!(std::ptr::read_volatile((h as *const usize).sub(1)), eb);
            assert_eq!(a.words().lock().load(Ordering::Relaxed), 0);
            assert_eq!(a.words().owner().load(Ordering::Relaxed), 0);
            assert_eq!(a.words().nusers().load(Ordering::Relaxed), 0);
            assert_eq!(libc::pthread_mutex_unlock(b.ptr()), 0);
            assert_eq!(head.list(), h);
        }
    }
}
