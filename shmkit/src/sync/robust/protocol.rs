//! The lock and unlock algorithms of glibc's robust mutex (`__pthread_mutex_lock_full`, its
//! timed and try variants, `__pthread_mutex_unlock_full`, `pthread_mutex_consistent`), on
//! the words of one mutex, for this thread's [`ThreadList`]. See the parent module for the
//! protocol and for what is checked in words other processes write.

use super::list::ThreadList;
use super::types::{Acquired, MutexError, Wait, LIVENESS_PERIOD, MAX_HELD};
use crate::sys::pthread::{
    self as raw, RobustHead, Words, EBUSY, EDEADLK, ENOTRECOVERABLE, EPERM, ETIMEDOUT,
    FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, KIND, OWNER_INCONSISTENT,
    OWNER_NOTRECOVERABLE, PID_MAX_LIMIT,
};
use crate::sys::{futex, process};
use std::sync::atomic::{compiler_fence, AtomicU32, Ordering};
use std::time::Instant;

/// How many turns `try_lock` takes when the word keeps changing under its
/// compare-and-swap before it reports the mutex busy.
const TRY_TURNS: u32 = 64;

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
    #[inline]
    pub(super) fn lock(&mut self, w: &Words<'_>, wait: Wait) -> Result<Acquired, MutexError> {
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
    pub(super) fn unlock(&mut self, w: &Words<'_>, inconsistent: bool) -> Result<(), MutexError> {
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

    /// `pthread_mutex_consistent` of a mutex this thread holds as owner-died.
    pub(super) fn mark_consistent(&mut self, w: &Words<'_>) -> Result<(), MutexError> {
        let kind = w.kind().load(Ordering::Relaxed);
        check_kind(kind)?;
        let lock = w.lock().load(Ordering::Relaxed);
        if lock & !FUTEX_WAITERS != self.tid {
            return Err(MutexError::corrupt(format!(
                "__lock is {} while this thread holds the mutex",
                describe_lock(lock)
            )));
        }
        let owner = w.owner().load(Ordering::Relaxed);
        if owner != OWNER_INCONSISTENT {
            return Err(MutexError::corrupt(format!(
                "__owner is {} while the mutex is inconsistent; glibc leaves PTHREAD_MUTEX_INCONSISTENT there",
                describe_owner(owner)
            )));
        }
        w.owner().store(self.tid, Ordering::Relaxed);
        Ok(())
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
