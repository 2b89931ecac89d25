//! The raw robust lock against glibc: the words and list links it leaves, the values it
//! refuses, and its robust list next to the entries glibc links.

use super::*;
use crate::sys::pthread::{
    init_robust_shared, RobustHead, EBUSY, EDEADLK, EPERM, FUTEX_OWNER_DIED, FUTEX_TID_MASK,
    FUTEX_WAITERS, KIND, OWNER_INCONSISTENT,
};
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering;

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
