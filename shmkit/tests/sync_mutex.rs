//! `RobustMutex` with real processes and real SIGKILL: holders killed inside the critical
//! section, waiters blocked in a third process, not-recoverable mutexes, stopped holders,
//! pid namespaces, and other processes overwriting the words of the `pthread_mutex_t`
//! that glibc trusts (issue 10).

mod common;
mod sync_probe;

use common::probe::{probe_enum, say, say_reply, Probe};
use common::ProbeOptions;
use shmkit::sync::{LockError, RobustMutex};
use shmkit::{ErrorKind, Key, Segment};
use std::time::{Duration, Instant};
use sync_probe::{Guarded, SyncProbe};

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    let _ = common::probe::serve::<MutexProbe>() || common::probe::serve::<SyncProbe>();
}

fn spawn(probe: SyncProbe) -> common::RunningProbe {
    common::spawn_probe(&probe, ProbeOptions::default())
}

/// A random number of spins, so that kills land at random points of the holder's loop.
fn random_spin() {
    let n = common::random_u64() % 20_000;
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

#[test]
fn lock_unlock_try_lock_and_deadlock_in_one_process() {
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    let m = RobustMutex::create_in(map.region(), 0, [1u64, 1, 0]).unwrap();
    {
        let mut g = m.lock().unwrap();
        assert!(g.is_consistent());
        g[2] += 5;
        // The same thread again: error-checking turns the self-deadlock into an error.
        assert_eq!(m.lock().unwrap_err().kind(), ErrorKind::Deadlock);
        assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::Deadlock);
        // Another thread sees it held.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
                assert_eq!(
                    m.lock_timeout(Duration::from_millis(5)).unwrap_err().kind(),
                    ErrorKind::TimedOut
                );
            });
        });
    }
    assert_eq!(m.try_lock().unwrap()[2], 5);
    // Opening the same memory again sees the same mutex and value.
    let again = RobustMutex::<[u64; 3], _>::open_in(map.region(), 0).unwrap();
    assert_eq!(again.lock_timeout(Duration::from_secs(60)).unwrap()[2], 5);
    // A second create at the same place is refused; a wrong type is a layout mismatch.
    assert_eq!(
        RobustMutex::create_in(map.region(), 0, 0u8)
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        RobustMutex::<u32, _>::open_in(map.region(), 0)
            .unwrap_err()
            .kind(),
        ErrorKind::LayoutMismatch
    );
    // Nothing created there yet; misaligned; out of bounds.
    let size = RobustMutex::<[u64; 3]>::SIZE;
    assert_eq!(
        RobustMutex::<u8, _>::open_in(map.region(), size)
            .unwrap_err()
            .kind(),
        ErrorKind::NotInitialised
    );
    assert_eq!(
        RobustMutex::create_in(map.region(), size + 8, 0u8)
            .unwrap_err()
            .kind(),
        ErrorKind::Misaligned
    );
    assert_eq!(
        RobustMutex::create_in(map.region(), 4096 - 64, 0u8)
            .unwrap_err()
            .kind(),
        ErrorKind::OutOfBounds
    );
}

#[test]
fn threads_of_one_process_count_exactly() {
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    let m = RobustMutex::create_in(map.region(), 0, 0u64).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    *m.lock().unwrap() += 1;
                }
            });
        }
    });
    assert_eq!(*m.lock().unwrap(), 40_000);
}

#[test]
fn a_whole_segment_mutex_owns_its_attachment() {
    let seg = common::private_segment(4096);
    let m = RobustMutex::create(&seg, [7u32; 4]).unwrap();
    let other = RobustMutex::<[u32; 4]>::open(&seg).unwrap();
    other.lock().unwrap()[3] = 9;
    assert_eq!(*m.lock().unwrap(), [7, 7, 7, 9]);
    // Only once no guard exists can the attachment be taken back and detached.
    m.into_inner().detach().unwrap();
}

/// One mutex reached through two attachments of its segment (two addresses), locked by
/// the thread that already holds it: `Deadlock` from every lock call, as glibc's
/// error-checking mutex gives, and the first guard stays the only one. The second lock used
/// to be taken over as owner-died (this thread had no record at the second address): two
/// guards, two `&mut` over the same value, on one thread.
#[test]
fn the_holding_thread_locking_through_a_second_attachment_gets_deadlock_not_a_second_guard() {
    let seg = common::private_segment(4096);
    let a = RobustMutex::create(&seg, [0u64; 2]).unwrap();
    let b = RobustMutex::<[u64; 2]>::open(&seg).unwrap();
    let mut held = a.lock().unwrap();
    held[0] = 1;
    assert_eq!(
        b.lock().map(drop).map_err(|e| e.kind()),
        Err(ErrorKind::Deadlock)
    );
    assert_eq!(
        b.try_lock().map(drop).map_err(|e| e.kind()),
        Err(ErrorKind::Deadlock)
    );
    assert_eq!(
        b.lock_timeout(Duration::from_secs(60))
            .map(drop)
            .map_err(|e| e.kind()),
        Err(ErrorKind::Deadlock)
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(
                b.try_lock().map(drop).map_err(|e| e.kind()),
                Err(ErrorKind::WouldBlock)
            );
        });
    });
    assert_eq!(*held, [1, 0]);
    assert!(held.is_consistent());
    drop(held);
    let again = b.lock().unwrap();
    assert!(again.is_consistent(), "released cleanly, never taken over");
    assert_eq!(*again, [1, 0]);
}

/// The hostile soak's hang (`hostile_soak_mutex` and `hostile_soak_seqlock`, about half
/// the runs on the older mutex code): a peer wrote 0 into the lock word of a held mutex,
/// the holder's unlock found it rewritten (`Corrupt`) and released it, then the peer's
/// compare-and-swap put the old value back: the holder's thread id, in a word that thread
/// no longer held. Its own later locks gave `Deadlock`, every time (a word naming the
/// caller was always `Deadlock`: it may hold the mutex through another attachment), and an
/// untimed `lock()` in another thread waited for it for ever (its thread is alive). Now a
/// thread that holds no robust mutex at all cannot hold this one, so its lock takes the
/// stale word over as owner-died, and the waiter gets the lock after it. (A thread that
/// does hold it through a second attachment still gets `Deadlock`: the test above.)
#[test]
fn a_lock_word_a_peer_put_back_to_our_id_after_our_unlock_is_owner_died_not_deadlock() {
    use std::sync::mpsc::channel;
    let seg = common::private_segment(4096);
    let m = &RobustMutex::create(&seg, [0u64; 2]).unwrap();
    // The peer's view of the same memory: a second attachment, through which this test
    // writes as another process would.
    let peer = seg.attach().unwrap();
    let lock_word = peer.atomic_u32(PTHREAD_AT + W_LOCK).unwrap();
    // A generous watchdog, not a timing claim: a call that hangs fails the test after a
    // minute instead of hanging it.
    let watchdog = Duration::from_secs(60);
    let (to_holder, holder_hears) = channel::<()>();
    let (holder_says, from_holder) = channel::<String>();
    let (waiter_says, from_waiter) = channel::<String>();
    std::thread::scope(|s| {
        // The holder: locks, unlocks after the peer's write, and locks again once its id is
        // back in the word.
        s.spawn(move || {
            let mut g = m.lock().unwrap();
            g[0] = 7;
            // SAFETY: gettid takes no arguments and cannot fail.
            holder_says
                .send(unsafe { libc::gettid() }.to_string())
                .unwrap();
            holder_hears.recv().unwrap();
            let unlocked = g.unlock().map_err(|e| e.kind());
            holder_says.send(format!("{unlocked:?}")).unwrap();
            holder_hears.recv().unwrap();
            let again = match m.lock() {
                Ok(_) => "a clean lock".to_string(),
                Err(LockError::OwnerDied(mut g)) => {
                    let value = *g;
                    g.mark_consistent().unwrap();
                    format!("owner-died {value:?}")
                }
                Err(LockError::Failed(e)) => format!("{:?}", e.kind()),
            };
            holder_says.send(again).unwrap();
        });
        let tid: u32 = from_holder.recv_timeout(watchdog).unwrap().parse().unwrap();
        assert_eq!(lock_word.load(std::sync::atomic::Ordering::SeqCst), tid);
        // The peer's hostile write into the held word, then the holder's unlock.
        lock_word.store(0, std::sync::atomic::Ordering::SeqCst);
        to_holder.send(()).unwrap();
        assert_eq!(
            from_holder.recv_timeout(watchdog).unwrap(),
            "Err(Corrupt)",
            "the unlock reports the rewritten word"
        );
        // The peer puts its "old value" back: the holder's id, which it no longer holds.
        assert_eq!(
            lock_word.compare_exchange(
                0,
                tid,
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst
            ),
            Ok(0)
        );
        // A waiter in another thread: the word names a live thread, so it waits.
        let (waiter_tid_says, waiter_tid) = channel::<u32>();
        s.spawn(move || {
            // SAFETY: gettid takes no arguments and cannot fail.
            waiter_tid_says
                .send(unsafe { libc::gettid() } as u32)
                .unwrap();
            let got = match m.lock() {
                Ok(g) => format!("a clean lock {:?}", *g),
                Err(LockError::OwnerDied(_)) => "owner-died".to_string(),
                Err(LockError::Failed(e)) => format!("{:?}", e.kind()),
            };
            waiter_says.send(got).unwrap();
        });
        let waiter = waiter_tid.recv_timeout(watchdog).unwrap();
        common::wait_until("the waiter to sleep on the lock word", || {
            asleep_in_futex(std::process::id(), waiter)
        });
        // The holder locks again: the stale word naming it is taken over.
        to_holder.send(()).unwrap();
        let again = from_holder.recv_timeout(watchdog).unwrap();
        if again != "owner-died [7, 0]" {
            // Let the waiter go before failing (it would keep the scope waiting).
            lock_word.store(0, std::sync::atomic::Ordering::SeqCst);
        }
        assert_eq!(
            again, "owner-died [7, 0]",
            "the holder's lock of a word naming it, while it holds no robust mutex"
        );
        // Marked consistent and released: the waiter gets a clean lock.
        assert_eq!(
            from_waiter.recv_timeout(watchdog).unwrap(),
            "a clean lock [7, 0]"
        );
    });
    assert_eq!(lock_word.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// Whether thread `tid` of process `pid` sleeps (state `S`) inside `futex(2)`: queued on a
/// futex word, not merely stopped at the syscall's entry or about to run.
fn asleep_in_futex(pid: u32, tid: u32) -> bool {
    let task = format!("/proc/{pid}/task/{tid}");
    let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    let syscall = std::fs::read_to_string(format!("{task}/syscall")).unwrap_or_default();
    state == Some('S') && syscall.split_whitespace().next() == Some(&libc::SYS_futex.to_string())
}

/// A traced child (its pid, and whether it was reaped), killed and reaped if the test
/// fails half-way.
struct Traced(libc::pid_t, std::cell::Cell<bool>);

impl Traced {
    /// Waits for the child's next stop (or exit): the wait status.
    fn wait(&self) -> i32 {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(self.0, &mut status, libc::__WALL) };
        assert_eq!(r, self.0, "waitpid: {}", std::io::Error::last_os_error());
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            self.1.set(true);
        }
        status
    }

    /// `ptrace(request, child, addr, data)`, which must succeed.
    fn ptrace(&self, request: libc::c_uint, addr: usize, data: usize) -> libc::c_long {
        // SAFETY: requests on our own traced child; `addr`/`data` are what each request
        // expects (a child address, or a pointer to a live local of the right size).
        let r = unsafe { libc::ptrace(request, self.0, addr, data) };
        assert!(
            r >= 0,
            "ptrace({request:#x}): {}",
            std::io::Error::last_os_error()
        );
        r
    }

    /// Resumes the child to its next syscall entry or exit, and waits for that stop.
    fn to_next_syscall(&self) -> libc::ptrace_syscall_info {
        self.ptrace(libc::PTRACE_SYSCALL, 0, 0);
        self.syscall_stop()
    }

    /// Waits for the child (resumed with `PTRACE_SYSCALL`) to stop at a syscall entry or
    /// exit: which, and the syscall's arguments or result.
    fn syscall_stop(&self) -> libc::ptrace_syscall_info {
        let status = self.wait();
        assert!(
            libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGTRAP | 0x80,
            "not a syscall stop: {status:#x}"
        );
        // SAFETY: plain data, valid when zeroed; filled in by the kernel below.
        let mut info: libc::ptrace_syscall_info = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of_val(&info);
        self.ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            size,
            &mut info as *mut libc::ptrace_syscall_info as usize,
        );
        info
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if self.1.get() {
            // Reaped: the pid may belong to another process by now.
            return;
        }
        // SAFETY: our own child, not reaped yet (so the pid is still its): killed and reaped.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), libc::__WALL);
        }
    }
}

/// A `lock_timeout` woken by the unlock it waited for, but running again only after its
/// deadline, must not swallow that wake-up: a C program asleep in `pthread_mutex_lock`
/// behind it would sleep on a free mutex for ever (the unlock's `FUTEX_WAKE` of one waiter
/// was its only wake-up). The timed lock used to check its deadline before looking at the
/// word again and return `TimedOut`; as in glibc, a woken locker now tries the word first
/// (the deadline bounds its sleeps), so it takes the free mutex, and its unlock wakes the C
/// waiter.
///
/// The window (a wake-up arriving after the deadline, before the locker's own timer fired)
/// is real but narrow: timer slack, or a preemption between computing the sleep and
/// entering `FUTEX_WAIT`. ptrace makes it certain, on a forked locker: its `FUTEX_WAIT`
/// timeout is lengthened at syscall entry (a late timer), and once woken it is held at
/// syscall exit until its deadline has passed (a late scheduling).
#[test]
fn a_timed_lock_woken_after_its_deadline_passes_the_wake_up_on() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    let m = RobustMutex::create_in(map.region(), 0, 0u64).unwrap();
    // `__lock` is the first word of the pthread_mutex_t: the futex word.
    let raw = map
        .region()
        .as_mut_ptr()
        .wrapping_add(PTHREAD_AT)
        .cast::<libc::pthread_mutex_t>();
    let word = raw as usize;
    let held = m.lock().unwrap();
    // SAFETY: the child only locks and unlocks (glibc's malloc is fork-safe) and leaves
    // with _exit; the segment is mapped at the same address in it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: the child asks to be traced by its parent and stops until the parent is
        // ready; then it only locks and leaves with _exit.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
        }
        let code = match m.lock_timeout(TIMEOUT) {
            Ok(g) => {
                drop(g);
                0
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => 1,
            Err(_) => 2,
        };
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    let child = Traced(pid, std::cell::Cell::new(false));
    let status = child.wait();
    assert!(libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGSTOP);
    child.ptrace(
        libc::PTRACE_SETOPTIONS,
        0,
        (libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL) as usize,
    );
    // Syscall by syscall, up to the entry of FUTEX_WAIT on the lock word.
    let mut timeout_at = None;
    for _ in 0..10_000 {
        let info = child.to_next_syscall();
        if info.op == libc::PTRACE_SYSCALL_INFO_ENTRY {
            // SAFETY: an entry stop: the kernel filled in `entry`.
            let entry = unsafe { info.u.entry };
            if entry.nr == libc::SYS_futex as u64
                && entry.args[0] == word as u64
                && entry.args[1] & 0x7f == libc::FUTEX_WAIT as u64
            {
                timeout_at = Some(entry.args[3] as usize);
                break;
            }
        }
    }
    let entered = Instant::now();
    let timeout_at = timeout_at.expect("the timed lock never waited on the lock word");
    assert_ne!(timeout_at, 0, "a timed lock sleeps with a timeout");
    // A late timer: the `struct timespec` the child passes gets tv_sec = 3600.
    child.ptrace(libc::PTRACE_POKEDATA, timeout_at, 3600);
    child.ptrace(libc::PTRACE_SYSCALL, 0, 0);
    common::wait_until("the timed locker asleep on the lock word", || {
        asleep_in_futex(pid as u32, pid as u32)
    });
    // The C waiter: a thread of this process in glibc's pthread_mutex_lock, queued behind.
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let c_waiter = std::thread::spawn(move || {
        // SAFETY: gettid cannot fail.
        tid_tx.send(unsafe { libc::gettid() } as u32).unwrap();
        let raw = word as *mut libc::pthread_mutex_t;
        // SAFETY: an initialised robust mutex in a segment that stays attached until this
        // thread is joined; unlocked again by this thread.
        let rc = unsafe { libc::pthread_mutex_lock(raw) };
        if rc == 0 {
            // SAFETY: held by this thread.
            unsafe { libc::pthread_mutex_unlock(raw) };
        }
        done_tx.send(rc).unwrap();
    });
    let c_tid = tid_rx.recv().unwrap();
    common::wait_until("the C waiter asleep on the lock word", || {
        asleep_in_futex(std::process::id(), c_tid)
    });
    // FUTEX_WAKE of one waiter: the timed locker, first in the queue.
    drop(held);
    let info = child.syscall_stop();
    assert_eq!(info.op, libc::PTRACE_SYSCALL_INFO_EXIT);
    // SAFETY: an exit stop: the kernel filled in `exit`.
    let woken = unsafe { info.u.exit };
    assert_eq!(woken.sval, 0, "the timed locker was woken, not timed out");
    // A late scheduling: the child's deadline is before `entered + TIMEOUT` (it computed it
    // before entering FUTEX_WAIT). This waits for a time, not for another thread.
    while let Some(left) = (entered + TIMEOUT).checked_duration_since(Instant::now()) {
        std::thread::sleep(left + Duration::from_millis(1));
    }
    child.ptrace(libc::PTRACE_DETACH, 0, 0);
    let status = child.wait();
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    // A lost wake-up leaves the C waiter asleep for ever: a generous bound detects it.
    let c_result = done_rx.recv_timeout(Duration::from_secs(10));
    if c_result.is_err() {
        // Let it go (it takes the free mutex) before the segment is detached.
        // SAFETY: FUTEX_WAKE on the mapped, aligned lock word.
        unsafe { libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE, i32::MAX, 0, 0, 0) };
    }
    c_waiter.join().unwrap();
    assert_eq!(
        c_result,
        Ok(0),
        "the C waiter was left asleep on a free mutex (the timed locker exited with {})",
        libc::WEXITSTATUS(status)
    );
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "1: the woken locker timed out instead of taking the free mutex; 2: it failed"
    );
    drop(child);
}

#[test]
fn holder_killed_1000_times_inside_the_critical_section() {
    const ROUNDS: usize = 1000;
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let mut recovery = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let mut holder = spawn(SyncProbe::MutexHold { key: seg.key() });
        assert_eq!(holder.next_result(), "holding", "round {round}");
        random_spin();
        let start = Instant::now();
        holder.kill();
        match m.lock() {
            Err(LockError::OwnerDied(mut g)) => {
                recovery.push(start.elapsed());
                assert_ne!(g[0], g[1], "round {round}: the broken invariant is visible");
                g[1] = g[0];
                g.mark_consistent().unwrap();
                assert_eq!(g[2], round as u64 + 1, "round {round}");
            }
            Ok(_) => panic!("round {round}: the lock was clean after its holder died"),
            Err(LockError::Failed(e)) => panic!("round {round}: {e}"),
        }
    }
    let g = m.lock().unwrap();
    assert_eq!(g[2], ROUNDS as u64);
    assert_eq!(g[0], g[1]);
    recovery.sort();
    eprintln!(
        "robust mutex: {ROUNDS} holders killed, {ROUNDS} owner-died recoveries; kill+reap+lock median {:?}, p99 {:?}, max {:?}",
        recovery[ROUNDS / 2],
        recovery[ROUNDS * 99 / 100],
        recovery[ROUNDS - 1]
    );
}

#[test]
fn a_waiter_blocked_in_a_third_process_wakes_with_owner_died() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    for round in 0..5 {
        let mut holder = spawn(SyncProbe::MutexHold { key: seg.key() });
        assert_eq!(holder.next_result(), "holding");
        let mut waiter = spawn(SyncProbe::MutexLockReport { key: seg.key() });
        let line = waiter.next_result();
        let addr = usize::from_str_radix(line.trim_start_matches("locking 0x"), 16).unwrap();
        let pid = waiter.child.id();
        common::wait_until("the waiter to block on the lock word", || {
            sync_probe::blocked_in_futex_at(pid, addr)
        });
        holder.kill();
        assert_eq!(waiter.finish(), "owner-died broken", "round {round}");
        // The waiter repaired it and unlocked by exiting: clean for us.
        let g = m.lock().unwrap();
        assert_eq!(g[0], g[1]);
        assert_eq!(g[2], round + 1);
    }
}

#[test]
fn dropping_an_owner_died_guard_makes_the_mutex_not_recoverable() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let mut holder = spawn(SyncProbe::MutexHold { key: seg.key() });
    assert_eq!(holder.next_result(), "holding");
    holder.kill();
    let guard = m.lock().unwrap_err().into_owner_died().expect("owner died");
    assert!(!guard.is_consistent());
    drop(guard); // not marked consistent
    for _ in 0..3 {
        assert_eq!(m.lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
        assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
        assert_eq!(
            m.lock_timeout(Duration::from_secs(60)).unwrap_err().kind(),
            ErrorKind::NotRecoverable
        );
    }
    // In another process, and through a fresh open, too.
    let r = common::run_probe(
        &SyncProbe::MutexLock { key: seg.key() },
        ProbeOptions::default(),
    );
    assert_eq!(r.result(), "NotRecoverable");
    let again = RobustMutex::<Guarded, _>::open_in(map.region(), 0).unwrap();
    assert_eq!(again.lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
}

#[test]
fn a_stopped_holder_times_out_lockers_then_dies_into_owner_died() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let mut holder = spawn(SyncProbe::MutexHold { key: seg.key() });
    assert_eq!(holder.next_result(), "holding");
    let pid = holder.child.id() as i32;
    // SAFETY: kill takes plain integers; `pid` is our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    common::wait_until("the holder to stop", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit(") ").next().unwrap_or("").starts_with('T'))
            .unwrap_or(false)
    });
    assert_eq!(
        m.lock_timeout(Duration::from_millis(20))
            .unwrap_err()
            .kind(),
        ErrorKind::TimedOut
    );
    assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    holder.kill(); // SIGKILL ends a stopped process too
    let mut g = m
        .lock_timeout(Duration::from_secs(60))
        .unwrap_err()
        .into_owner_died()
        .expect("owner died");
    assert_ne!(g[0], g[1]);
    g[1] = g[0];
    g.mark_consistent().unwrap();
    drop(g);
    assert!(m.lock().unwrap().is_consistent());
}

#[test]
fn a_process_in_another_pid_namespace_is_refused() {
    if common::skip_unless_root("start a process in a new pid namespace") {
        return;
    }
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let _m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let open = SyncProbe::MutexOpen { key: seg.key() };
    assert_eq!(
        common::run_probe(&open, ProbeOptions::default()).result(),
        "ok"
    );
    let new_pid_namespace = ProbeOptions {
        new_pid_namespace: true,
        ..ProbeOptions::default()
    };
    assert_eq!(
        common::run_probe(&open, new_pid_namespace).result(),
        "ForeignNamespace"
    );
}

#[test]
fn a_read_only_segment_is_not_enough_and_keys_are_per_test() {
    // The types require a read-write region: this is a compile-time property; here we only
    // check that a mutex in a keyed segment is found by key from another attachment.
    let seg = common::keyed_segment(8192, 0o600);
    let a = seg.attach().unwrap();
    let m = RobustMutex::create_in(a.region(), 4096, 3u16).unwrap();
    let b = Segment::open(seg.key()).unwrap().attach().unwrap();
    let n = RobustMutex::<u16, _>::open_in(b.region(), 4096).unwrap();
    *n.lock().unwrap() += 1;
    assert_eq!(*m.lock().unwrap(), 4);
}

#[test]
fn a_leaked_guard_keeps_the_segment_attached() {
    // mem::forget defeats the borrow, not the count: the attachment refuses to detach while
    // the kernel's robust list of this thread points into it.
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    assert_eq!(map.locks_held(), 0);
    {
        let mutex = RobustMutex::<u64, _>::create_in(&*map, 0, 7).unwrap();
        let guard = mutex.lock().unwrap_or_else(|_| panic!("fresh mutex"));
        std::mem::forget(guard);
    } // the handle goes away with the lock still held: the region is marked
    assert_eq!(map.locks_held(), 1);
    let err = map.detach().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    // The mapping stayed: the segment still counts this process's attachment.
    assert_eq!(seg.stat().unwrap().nattch, 1);

    // Released normally, a guard leaves nothing counted and the segment detaches.
    let map = seg.attach().unwrap();
    {
        let mutex = RobustMutex::<u64, _>::open_in(&*map, 0).unwrap();
        drop(mutex.try_lock());
    }
    assert_eq!(map.locks_held(), 0);
    map.detach().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Issue 10: words of the pthread_mutex_t overwritten by another process.
// ---------------------------------------------------------------------------------------------

/// Where the `pthread_mutex_t` of the mutex at offset 0 sits, and glibc's words in it
/// (`struct __pthread_mutex_s` on 64-bit Linux).
const PTHREAD_AT: usize = 64;
const W_LOCK: usize = 0;
const W_COUNT: usize = 4;
const W_OWNER: usize = 8;
const W_KIND: usize = 16;
const W_PREV: usize = 24;
const W_NEXT: usize = 32;
/// The `__kind` shmkit creates: robust (16) | error-checking (2) | process-shared (128).
const KIND: u64 = 0x92;
/// The distance between two `RobustMutex<Guarded>` laid out one after the other.
const SECOND: usize = 128;
/// Words to write: `(offset in the pthread_mutex_t, value)`.
type Words = &'static [(usize, u64)];

probe_enum! {
    /// What the probe processes of the tests below do with the mutex at offset 0 of the
    /// test segment `key` (and, for some, the ones after it).
    enum MutexProbe {
        /// Store words of the `pthread_mutex_t` (`(offset, value)`: 8 bytes at the list
        /// pointers' offsets, 4 elsewhere), then reply `written`.
        Write { key: Key, words: Vec<(usize, u64)> },
        /// One call, reply its outcome (see [`describe`]).
        Call { key: Key, call: Call },
        /// Say `ready`, then do each [`Step`] requested on stdin, answering each with one
        /// line.
        Steps { key: Key },
        /// Forever, write a random 4-byte value (or put the original back, one time in
        /// four) into one of the `pthread_mutex_t`'s 4-byte words listed in `words` (word
        /// indexes 0..10), pausing 0..5000 spins; say `scribbling` first.
        Scribble { key: Key, seed: u64, words: Vec<usize> },
        /// `try_lock`, `lock_timeout(300 µs)` and `lock_timeout(20 ms)` in turn, holding
        /// each lock for 2000 spins, and one time in four holding the mutex at offset 128
        /// (which nobody scribbles) around it, taken before or after it; reply a
        /// [`LockerReport`].
        Locker { key: Key, iters: u64 },
        /// Say `ready`, then drive the mutexes at offsets 0, 128, 256, 384 by the
        /// [`MultiStep`]s requested on stdin, answering each with one line.
        Multi { key: Key },
    }
}

probe_enum! {
    /// A request to a [`MutexProbe::Steps`] probe.
    #[derive(Copy)]
    enum Step {
        /// `try_lock`, released at once.
        Try,
        /// `lock_timeout(1 ms)`, released at once.
        Timed,
        /// `lock`, released at once.
        Lock,
        /// `lock_timeout(1 ms)`, keeping the guard.
        Hold,
        /// Unlock the held guard.
        Release,
        /// Mark the held guard consistent.
        Consistent,
    }
}

impl Step {
    /// Its name in the tests' tallies.
    fn name(self) -> &'static str {
        match self {
            Step::Try => "try",
            Step::Timed => "timed",
            Step::Lock => "lock",
            Step::Hold => "hold",
            Step::Release => "release",
            Step::Consistent => "consistent",
        }
    }
}

probe_enum! {
    /// A request to a [`MutexProbe::Multi`] probe, about the `n`th mutex.
    enum MultiStep {
        /// `lock_timeout(10 s)`, keeping the guard.
        Lock { n: usize },
        /// Unlock the held guard.
        Unlock { n: usize },
        /// `try_lock`, released at once.
        Try { n: usize },
    }
}

probe_enum! {
    /// A locking call of [`MutexProbe::Call`].
    #[derive(Copy)]
    enum Call {
        Lock,
        TryLock,
        /// `lock_timeout(100 ms)`.
        LockTimeout,
        /// `lock_timeout(60 s)`.
        LockTimeoutLong,
    }
}

probe_enum! {
    /// The reply of [`MutexProbe::Locker`].
    enum LockerReport {
        /// How far the slowest timed lock ran past its timeout, and how often each outcome
        /// was seen.
        Done { over_us: u64, outcomes: Vec<(String, u64)> },
    }
}

impl Probe for MutexProbe {
    const FAMILY: &'static str = "MutexProbe";

    fn run(self) {
        match self {
            MutexProbe::Write { key, words } => write_words(key, &words),
            MutexProbe::Call { key, call } => one_call(key, call),
            MutexProbe::Steps { key } => steps(key),
            MutexProbe::Scribble { key, seed, words } => scribble_words(key, seed, &words),
            MutexProbe::Locker { key, iters } => locker(key, iters),
            MutexProbe::Multi { key } => multi_steps(key),
        }
    }
}

fn write_words(key: Key, words: &[(usize, u64)]) {
    let map = sync_probe::attach(key);
    for &(off, value) in words {
        let bytes = value.to_ne_bytes();
        let len = if off == W_PREV || off == W_NEXT { 8 } else { 4 };
        map.write_at(PTHREAD_AT + off, &bytes[..len]).unwrap();
    }
    say("written");
}

fn one_call(key: Key, call: Call) {
    let map = sync_probe::attach(key);
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).expect("open");
    let r = match call {
        Call::Lock => m.lock(),
        Call::TryLock => m.try_lock(),
        Call::LockTimeout => m.lock_timeout(Duration::from_millis(100)),
        Call::LockTimeoutLong => m.lock_timeout(Duration::from_secs(60)),
    };
    say(describe(r));
}

fn steps(key: Key) {
    let map = sync_probe::attach(key);
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).expect("open");
    let mut held = None;
    say("ready");
    for step in common::probe::requests() {
        let out = match step {
            Step::Try => describe(m.try_lock()),
            Step::Timed => describe(m.lock_timeout(Duration::from_millis(1))),
            Step::Lock => describe(m.lock()),
            Step::Hold => match m.lock_timeout(Duration::from_millis(1)) {
                Ok(g) => {
                    held = Some(g);
                    "ok".into()
                }
                Err(LockError::OwnerDied(g)) => {
                    held = Some(g);
                    "owner-died".into()
                }
                Err(LockError::Failed(e)) => format!("{:?}: {e}", e.kind()),
            },
            Step::Release => match held.take() {
                Some(g) => match g.unlock() {
                    Ok(()) => "ok".into(),
                    Err(e) => format!("{:?}: {e}", e.kind()),
                },
                None => "nothing held".into(),
            },
            Step::Consistent => match held.as_mut() {
                Some(g) => match g.mark_consistent() {
                    Ok(()) => "ok".into(),
                    Err(e) => format!("{:?}: {e}", e.kind()),
                },
                None => "nothing held".into(),
            },
        };
        say(out);
    }
    // stdin closed: exit (dropping a held guard unlocks it)
}

fn scribble_words(key: Key, seed: u64, words: &[usize]) {
    let map = sync_probe::attach(key);
    let mut rng = sync_probe::Rng(seed | 1);
    let original = map.read_vec(PTHREAD_AT, 40).unwrap();
    say("scribbling");
    loop {
        let at = 4 * words[rng.next() as usize % words.len()];
        if rng.next() % 4 == 0 {
            map.write_at(PTHREAD_AT + at, &original[at..at + 4])
                .unwrap();
        } else {
            map.write_at(PTHREAD_AT + at, &rng.next().to_ne_bytes()[..4])
                .unwrap();
        }
        for _ in 0..rng.next() % 5000 {
            std::hint::spin_loop();
        }
    }
}

fn locker(key: Key, iters: u64) {
    let map = sync_probe::attach(key);
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).expect("open");
    let other = RobustMutex::<Guarded, _>::open_in(map.region(), SECOND).expect("open");
    let mut stats = std::collections::BTreeMap::<String, u64>::new();
    let mut worst = Duration::ZERO;
    for i in 0..iters {
        let nested = i % 4 == 3;
        let before = if nested && i % 8 == 3 {
            Some(
                other
                    .lock_timeout(Duration::from_secs(10))
                    .expect("unscribbled"),
            )
        } else {
            None
        };
        let timeout = [Duration::from_micros(300), Duration::from_millis(20)][i as usize % 2];
        let start = Instant::now();
        let r = if i % 3 == 0 {
            m.try_lock()
        } else {
            m.lock_timeout(timeout)
        };
        if i % 3 != 0 {
            worst = worst.max(start.elapsed().saturating_sub(timeout));
        }
        let after = if nested && before.is_none() {
            Some(
                other
                    .lock_timeout(Duration::from_secs(10))
                    .expect("unscribbled"),
            )
        } else {
            None
        };
        let out = match r {
            Ok(g) => {
                for _ in 0..2000 {
                    std::hint::spin_loop();
                }
                match g.unlock() {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("unlock {:?}", e.kind()),
                }
            }
            Err(LockError::OwnerDied(mut g)) => {
                let _ = g.mark_consistent();
                "owner-died".into()
            }
            Err(LockError::Failed(e)) => format!("{:?}", e.kind()),
        };
        drop(after);
        drop(before);
        *stats.entry(out).or_default() += 1;
    }
    say_reply(&LockerReport::Done {
        over_us: worst.as_micros() as u64,
        outcomes: stats.into_iter().collect(),
    });
}

fn multi_steps(key: Key) {
    let map = sync_probe::attach(key);
    let mutexes: Vec<_> = (0..4)
        .map(|i| RobustMutex::<Guarded, _>::open_in(map.region(), i * SECOND).expect("open"))
        .collect();
    let mut held: Vec<Option<_>> = (0..4).map(|_| None).collect();
    say("ready");
    for step in common::probe::requests() {
        let out = match step {
            MultiStep::Lock { n } => match mutexes[n].lock_timeout(Duration::from_secs(10)) {
                Ok(g) => {
                    held[n] = Some(g);
                    "ok".to_string()
                }
                Err(e) => format!("{e}"),
            },
            MultiStep::Unlock { n } => match held[n].take() {
                Some(g) => match g.unlock() {
                    Ok(()) => "ok".into(),
                    Err(e) => format!("{:?}: {e}", e.kind()),
                },
                None => "nothing held".into(),
            },
            MultiStep::Try { n } => describe(mutexes[n].try_lock()),
        };
        say(out);
    }
}

/// `ok`, `owner-died` (marked consistent and released), or `Kind: message`.
fn describe<R: std::ops::Deref<Target = shmkit::Region>>(
    r: Result<shmkit::sync::MutexGuard<'_, Guarded, R>, LockError<'_, Guarded, R>>,
) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(LockError::OwnerDied(mut g)) => {
            let _ = g.mark_consistent();
            "owner-died".into()
        }
        Err(LockError::Failed(e)) => format!("{:?}: {e}", e.kind()),
    }
}

/// Has a separate process write `words` (`(offset in the pthread_mutex_t, value)`).
fn peer_writes(key: Key, words: &[(usize, u64)]) {
    let write = MutexProbe::Write {
        key,
        words: words.to_vec(),
    };
    let r = common::run_probe(&write, ProbeOptions::default());
    assert_eq!(r.result(), "written");
}

/// Runs one call in a child process, so that an abort or a crash in glibc kills the child
/// (observed here as a signal) and not the test harness. A child still blocked after a
/// minute is a failure too (`wait_until` gives up).
fn call_in_child(key: Key, call: Call) -> String {
    let mut child = common::spawn_probe(&MutexProbe::Call { key, call }, ProbeOptions::default());
    common::wait_until(&format!("the child's {call:?} to return"), || {
        child.child.try_wait().unwrap().is_some()
    });
    let status = child.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.success(),
        "{call:?}: the child died ({status:?}, signal {:?})",
        status.signal()
    );
    child.finish()
}

fn word(map: &shmkit::Attachment, off: usize) -> u64 {
    let mut b = [0u8; 8];
    let len = if off == W_PREV || off == W_NEXT { 8 } else { 4 };
    map.read_at(PTHREAD_AT + off, &mut b[..len]).unwrap();
    u64::from_ne_bytes(b)
}

/// The reproduction: another process writes `__kind = 0` and `__owner = 4242`
/// into an unlocked mutex. `lock()` used to abort in glibc
/// (`assert (mutex->__data.__owner == 0)`, SIGABRT); `try_lock` and `lock_timeout`
/// used to succeed on what had become a plain, non-robust mutex.
#[test]
fn kind_0_and_owner_4242_from_another_process_give_corrupt_not_sigabrt() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    assert_eq!(word(&map, W_KIND), KIND, "the kind shmkit creates");
    peer_writes(seg.key(), &[(W_KIND, 0), (W_OWNER, 4242)]);
    for call in [Call::Lock, Call::TryLock, Call::LockTimeout] {
        let out = call_in_child(seg.key(), call);
        assert!(out.starts_with("Corrupt: "), "{call:?}: {out}");
        assert!(out.contains("__kind is 0x0"), "{call:?}: {out}");
    }
    // In this process too (try_lock and lock_timeout cannot abort even in glibc).
    let e = m.try_lock().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    let e = m.lock_timeout(Duration::from_millis(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    // No process got a plain, non-robust lock: a holder cannot start holding.
    let mut holder = spawn(SyncProbe::MutexHold { key: seg.key() });
    let line = holder.next_result();
    assert!(line.starts_with("lock failed: "), "{line}");
    assert!(
        line.contains("Corrupt") || line.contains("overwritten"),
        "{line}"
    );
    // With only the kind put back, __owner = 4242 in an unlocked mutex is still refused.
    peer_writes(seg.key(), &[(W_KIND, KIND)]);
    let out = call_in_child(seg.key(), Call::Lock);
    assert!(out.contains("__owner is 4242 while __lock is 0"), "{out}");
    // Words put back: the robust mutex works again, and a killed holder is OwnerDied.
    peer_writes(seg.key(), &[(W_OWNER, 0)]);
    let mut holder = spawn(SyncProbe::MutexHold { key: seg.key() });
    assert_eq!(holder.next_result(), "holding");
    holder.kill();
    let mut g = m.lock().unwrap_err().into_owner_died().expect("owner died");
    g[1] = g[0];
    g.mark_consistent().unwrap();
}

/// Every other value glibc never leaves in an unlocked mutex, written by another process:
/// each call refuses it with `Corrupt` naming the word, instead of waiting forever (a
/// `FUTEX_WAITERS` bit without an owner, a thread id no thread can have), taking a plain
/// mutex (`__kind` without the process-shared bit: lockers in different processes would
/// sleep on different futex keys), or a recursive-looking count.
#[test]
fn other_words_glibc_never_leaves_are_corrupt_in_every_call() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let cases: [(Words, &str); 6] = [
        (&[(W_LOCK, 0x8000_0000)], "FUTEX_WAITERS without an owner"),
        (
            &[(W_LOCK, 0x4000_0000 | 4242)],
            "FUTEX_OWNER_DIED together with a thread id",
        ),
        (&[(W_LOCK, 0x3fff_ffff)], "PID_MAX_LIMIT"),
        (&[(W_KIND, KIND & !128)], "__kind is 0x12"),
        (&[(W_KIND, KIND | 32)], "__kind is 0xb2"),
        (&[(W_COUNT, 7)], "__count is 7"),
    ];
    for (words, says) in cases {
        peer_writes(seg.key(), words);
        for call in [Call::Lock, Call::TryLock, Call::LockTimeout] {
            let out = call_in_child(seg.key(), call);
            assert!(
                out.starts_with("Corrupt: ") && out.contains(says),
                "{words:?} {call:?}: {out}"
            );
        }
        let e = m.try_lock().unwrap_err();
        assert!(
            e.kind() == ErrorKind::Corrupt && e.to_string().contains(says),
            "{e}"
        );
        // Put glibc's values back: usable again.
        peer_writes(
            seg.key(),
            &[(W_LOCK, 0), (W_KIND, KIND), (W_COUNT, 1), (W_OWNER, 0)],
        );
        drop(m.try_lock().expect("usable after the words are put back"));
    }
    // Values glibc does leave are not corrupt: a not-recoverable mark in an unlocked mutex.
    peer_writes(seg.key(), &[(W_OWNER, 0x7fff_fffe)]);
    assert_eq!(
        call_in_child(seg.key(), Call::TryLock).split(':').next(),
        Some("NotRecoverable")
    );
}

/// Sends `step` to a [`MutexProbe::Steps`] probe and returns its answer.
fn step(p: &mut common::RunningProbe, step: Step) -> String {
    p.request(&step)
}

/// Ends a [`MutexProbe::Steps`] probe and checks that it exited normally (not by a signal).
fn end_steps(mut p: common::RunningProbe, what: &str) {
    drop(p.child.stdin.take());
    let status = p.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.success(),
        "{what}: the probe died ({status:?}, signal {:?})",
        status.signal()
    );
}

/// Another process overwrites words of a mutex that a child process holds, and the child
/// unlocks. The robust-list pointers used to be followed by glibc's unlock (SIGSEGV on
/// NULL or garbage), a non-robust `__kind` made glibc unlock without unlinking the mutex
/// from the robust list, a cleared `__lock` made it refuse (EPERM). Now each is reported
/// as `Corrupt` naming the word, glibc's values are put back, the mutex is unlocked, and
/// both the mutex and the child's robust list keep working (a later kill is OwnerDied).
#[test]
fn words_of_a_held_mutex_overwritten_by_another_process_are_put_back_on_unlock() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let cases: [(Words, &[&str]); 7] = [
        (
            &[(W_NEXT, 0), (W_PREV, 0)],
            &["__list.__prev was 0x0", "__list.__next was 0x0"],
        ),
        (
            &[(W_NEXT, 0x5151_5151_5151_5150)],
            &["__list.__next was 0x5151515151515150"],
        ),
        (
            &[(W_PREV, 0xdead_beef_0000)],
            &["__list.__prev was 0xdeadbeef0000"],
        ),
        (&[(W_KIND, 0)], &["__kind was 0x0"]),
        (&[(W_KIND, KIND | 64)], &["__kind was 0xd2"]),
        (
            &[(W_OWNER, 4242), (W_COUNT, 9)],
            &["__owner was 4242", "__count was 9"],
        ),
        (&[(W_LOCK, 0)], &["__lock was 0x00000000"]),
    ];
    for (words, says) in cases {
        let mut p = common::spawn_probe(
            &MutexProbe::Steps { key: seg.key() },
            ProbeOptions::default(),
        );
        assert_eq!(p.next_result(), "ready");
        assert_eq!(step(&mut p, Step::Hold), "ok");
        peer_writes(seg.key(), words);
        let out = step(&mut p, Step::Release);
        assert!(out.starts_with("Corrupt: "), "{words:?}: {out}");
        for s in says {
            assert!(out.contains(s), "{words:?}: {out}");
        }
        assert!(out.contains("unlocked"), "{out}");
        // Released with glibc's words.
        assert_eq!(word(&map, W_LOCK), 0, "{words:?}");
        assert_eq!(word(&map, W_KIND), KIND, "{words:?}");
        assert_eq!(
            (word(&map, W_PREV), word(&map, W_NEXT)),
            (0, 0),
            "{words:?}: unlinked"
        );
        // The child's robust list is intact: it locks again, and its death is OwnerDied.
        assert_eq!(step(&mut p, Step::Hold), "ok", "{words:?}");
        p.kill();
        let mut g = m.lock().unwrap_err().into_owner_died().expect("owner died");
        g.mark_consistent().unwrap();
    }
}

/// The SIGSEGV of a random-word scribble, narrowed down: `__kind` rewritten to a
/// non-robust type, the mutex locked (glibc's plain path: not linked into the robust list,
/// list pointers left NULL by the last unlock), `__kind` put back, then unlocked: glibc's
/// robust unlock unlinked a mutex that was never linked and wrote through `NULL - 8`.
/// Now the lock is refused, so the unlock never happens.
#[test]
fn kind_rewritten_between_lock_and_unlock_no_longer_segfaults_the_unlocker() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let _m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let mut p = common::spawn_probe(
        &MutexProbe::Steps { key: seg.key() },
        ProbeOptions::default(),
    );
    assert_eq!(p.next_result(), "ready");
    assert_eq!(step(&mut p, Step::Hold), "ok");
    assert_eq!(step(&mut p, Step::Release), "ok");
    assert_eq!((word(&map, W_PREV), word(&map, W_NEXT)), (0, 0));
    peer_writes(seg.key(), &[(W_KIND, 0)]);
    let out = step(&mut p, Step::Hold);
    assert!(
        out.starts_with("Corrupt: ") && out.contains("__kind is 0x0"),
        "{out}"
    );
    peer_writes(seg.key(), &[(W_KIND, KIND)]);
    assert_eq!(step(&mut p, Step::Release), "nothing held");
    assert_eq!(step(&mut p, Step::Hold), "ok");
    assert_eq!(step(&mut p, Step::Release), "ok");
    end_steps(p, "the unlocker");
}

/// Random words written over the whole `pthread_mutex_t` (lock words, `__kind`, list
/// pointers) by this test through its own attachment, between the calls of a child
/// process that locks, holds and unlocks: a scribble made while no call is in progress is
/// always caught. The child never dies of a signal and never hangs (it uses deadlines),
/// and every outcome is a success or a typed error.
#[test]
fn random_words_written_between_calls_never_crash_the_locker() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let _m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let original = map.read_vec(PTHREAD_AT, 40).unwrap();
    let seed = common::random_u64() | 1;
    let mut rng = sync_probe::Rng(seed);
    let mut p = common::spawn_probe(
        &MutexProbe::Steps { key: seg.key() },
        ProbeOptions::default(),
    );
    assert_eq!(p.next_result(), "ready");
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    let mut holding = false;
    for round in 0..3000 {
        // Scribble 1 to 3 random 4-byte words, or put glibc's values back (the whole
        // pthread_mutex_t as created, unless the child holds it).
        if !holding && rng.next() % 4 == 0 {
            map.write_at(PTHREAD_AT, &original).unwrap();
        } else {
            for _ in 0..1 + rng.next() % 3 {
                let at = 4 * (rng.next() as usize % 10);
                map.write_at(PTHREAD_AT + at, &rng.next().to_ne_bytes()[..4])
                    .unwrap();
            }
        }
        let op = if holding {
            Step::Release
        } else {
            [Step::Try, Step::Timed, Step::Hold, Step::Hold][rng.next() as usize % 4]
        };
        let out = step(&mut p, op);
        let kind = out.split(':').next().unwrap().to_string();
        assert!(
            matches!(
                kind.as_str(),
                "ok" | "owner-died"
                    | "Corrupt"
                    | "WouldBlock"
                    | "TimedOut"
                    | "NotRecoverable"
                    | "Deadlock"
            ),
            "round {round} (seed {seed}) {op:?}: {out}"
        );
        if op == Step::Hold && (kind == "ok" || kind == "owner-died") {
            holding = true;
        } else if op == Step::Release {
            holding = false;
        }
        *outcomes.entry(format!("{} {kind}", op.name())).or_default() += 1;
    }
    end_steps(p, "the locker");
    eprintln!("random words between calls (seed {seed}): {outcomes:?}");
    assert!(
        outcomes.keys().any(|k| k.ends_with("Corrupt")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.keys().any(|k| k == "release Corrupt"),
        "{outcomes:?}"
    );
}

/// How far past its timeout a `lock_timeout` may return in the tests below: generous
/// (seconds), because the bound is about "by its deadline, whatever a peer writes", not
/// about speed; a debug build on a loaded 2-core machine can be preempted for a while.
const DEADLINE_SLACK: Duration = Duration::from_secs(2);

/// The "a random-word scribble killed a locker with SIGSEGV", made a test: a
/// scribbler process writes random 4-byte values (and now and then the original ones) into
/// words of the `pthread_mutex_t` *concurrently* with a locker process, which takes it with
/// `try_lock` and `lock_timeout`, holds it, unlocks it, 20 000 times, sometimes with a
/// second mutex held around it. When glibc locked and unlocked, a list pointer rewritten
/// between the checks and glibc's unlink made glibc write through it (SIGSEGV: 3 of 10 and
/// 17 of 20 lockers in two measurements with the list pointers scribbled), and a `__kind`
/// rewritten during a call reached glibc's assertions (SIGABRT). Now no locker may die of a
/// signal, and every `lock_timeout` must return within its timeout plus `DEADLINE_SLACK`.
/// `SHMKIT_EXPERIMENT_RUNS=N` runs N lockers per group of words instead of the default.
#[test]
fn a_concurrent_scribbler_kills_no_locker_and_delays_no_timed_lock() {
    use std::os::unix::process::ExitStatusExt;
    let runs: Option<u64> = std::env::var("SHMKIT_EXPERIMENT_RUNS")
        .ok()
        .and_then(|r| r.parse().ok());
    let groups = [
        ("__kind", &[4][..], runs.unwrap_or(1)),
        ("lock words", &[0, 1, 2, 3], runs.unwrap_or(1)),
        ("list pointers", &[6, 7, 8, 9], runs.unwrap_or(4)),
        (
            "all words (lock words, __kind, list pointers)",
            &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            runs.unwrap_or(3),
        ),
    ];
    for (name, words, runs) in groups {
        let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
        for run in 0..runs {
            let seg = common::keyed_segment(4096, 0o600);
            let map = seg.attach().unwrap();
            RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
            RobustMutex::<Guarded, _>::create_in(map.region(), SECOND, [0, 0, 0]).unwrap();
            let key = seg.key();
            let seed = common::random_u64() | 1;
            let mut scribbler = common::spawn_probe(
                &MutexProbe::Scribble {
                    key,
                    seed,
                    words: words.to_vec(),
                },
                ProbeOptions::default(),
            );
            assert_eq!(scribbler.next_result(), "scribbling");
            let mut victim = common::spawn_probe(
                &MutexProbe::Locker { key, iters: 20000 },
                ProbeOptions::default(),
            );
            common::wait_until("the locker to end", || {
                victim.child.try_wait().unwrap().is_some()
            });
            let status = victim.child.wait().unwrap();
            assert_eq!(
                status.signal(),
                None,
                "{name}, run {run} (seed {seed}): the locker died of a signal ({status:?})"
            );
            assert!(status.success(), "{name}, run {run}: {status:?}");
            let summary: LockerReport = victim.next_reply();
            scribbler.kill();
            let LockerReport::Done { over_us, .. } = summary;
            assert!(
                Duration::from_micros(over_us) < DEADLINE_SLACK,
                "{name}, run {run} (seed {seed}): a lock_timeout returned {over_us} µs after its timeout: {summary:?}"
            );
            *outcomes.entry("no signal".into()).or_default() += 1;
            eprintln!("concurrent scribbler, {name}, run {run} (seed {seed}): {summary:?}");
        }
        eprintln!("concurrent scribbler, {name}: {runs} lockers: {outcomes:?}");
    }
}

/// A lock word naming a thread that does not exist, without `FUTEX_OWNER_DIED` (the
/// kernel never marked it: a peer wrote it, or broke the holder's robust list). `lock()`
/// used to wait for that thread for ever; now it checks every 50 ms whether the holder
/// exists and takes the lock over as owner-died, like `lock_timeout`. `try_lock` does not
/// wait, so it reports the lock busy. (In child processes: the watchdog in `call_in_child`
/// fails the test after a minute instead of hanging.)
#[test]
fn lock_on_a_word_naming_a_thread_that_does_not_exist_is_owner_died_not_a_hang() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    for call in [Call::Lock, Call::LockTimeoutLong] {
        let gone = vanished_thread_id();
        peer_writes(
            seg.key(),
            &[
                (W_LOCK, u64::from(gone)),
                (W_OWNER, u64::from(gone)),
                (W_COUNT, 1),
            ],
        );
        assert_eq!(
            call_in_child(seg.key(), Call::TryLock).split(':').next(),
            Some("WouldBlock")
        );
        assert_eq!(call_in_child(seg.key(), call), "owner-died", "{call:?}");
        // Marked consistent and released by the child: clean for everyone.
        assert!(m.lock().unwrap().is_consistent());
    }
    // With FUTEX_WAITERS set by earlier waiters, in this process.
    let gone = vanished_thread_id();
    peer_writes(seg.key(), &[(W_LOCK, 0x8000_0000 | u64::from(gone))]);
    let mut g = m
        .lock_timeout(Duration::from_secs(60))
        .unwrap_err()
        .into_owner_died()
        .expect("owner died");
    g.mark_consistent().unwrap();
}

/// An id no thread has now: a child process that was reaped (ids are reused only after
/// the kernel cycled through the others).
fn vanished_thread_id() -> u32 {
    loop {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = shmkit_os::process_exists(pid as i32) == Some(false);
        if gone {
            return pid;
        }
    }
}

/// Sends `step` to a [`MutexProbe::Multi`] probe and returns its answer.
fn multi(p: &mut common::RunningProbe, step: MultiStep) -> String {
    p.request(&step)
}

/// The 8-byte word at `off` of the `pthread_mutex_t` at offset 0 (a list pointer of the
/// mutex at `off / SECOND`).
fn pointer(map: &shmkit::Attachment, off: usize) -> u64 {
    let mut b = [0u8; 8];
    map.read_at(PTHREAD_AT + off, &mut b).unwrap();
    u64::from_ne_bytes(b)
}

/// The lock word of the `i`th mutex.
fn lock_word(map: &shmkit::Attachment, i: usize) -> u32 {
    word(map, i * SECOND + W_LOCK) as u32
}

/// A holder takes and releases four mutexes in random orders (so entries are unlinked
/// from the front, the middle and the back of its robust list), then is killed: exactly the
/// mutexes it still held carry `FUTEX_OWNER_DIED` (the kernel found each through the list
/// shmkit keeps in glibc's robust-list head), and give `OwnerDied`; the others are free.
#[test]
fn a_holder_killed_with_several_mutexes_leaves_exactly_those_owner_died() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let mutexes: Vec<_> = (0..4)
        .map(|i| RobustMutex::<Guarded, _>::create_in(map.region(), i * SECOND, [0, 0, 0]).unwrap())
        .collect();
    let seed = common::random_u64() | 1;
    let mut rng = sync_probe::Rng(seed);
    for round in 0..30 {
        let mut p = common::spawn_probe(
            &MutexProbe::Multi { key: seg.key() },
            ProbeOptions::default(),
        );
        assert_eq!(p.next_result(), "ready");
        let mut held = [false; 4];
        for _ in 0..4 + rng.next() % 12 {
            let n = rng.next() as usize % 4;
            let op = if held[n] {
                MultiStep::Unlock { n }
            } else {
                MultiStep::Lock { n }
            };
            assert_eq!(multi(&mut p, op), "ok", "round {round} (seed {seed})");
            held[n] = !held[n];
        }
        p.kill();
        for (n, m) in mutexes.iter().enumerate() {
            let w = lock_word(&map, n);
            if held[n] {
                assert_eq!(
                    w & 0x4000_0000,
                    0x4000_0000,
                    "round {round} (seed {seed}): mutex {n}: {w:#x}"
                );
                let mut g = m
                    .try_lock()
                    .unwrap_err()
                    .into_owner_died()
                    .expect("owner died");
                g.mark_consistent().unwrap();
            } else {
                assert_eq!(w, 0, "round {round} (seed {seed}): mutex {n}");
                assert!(m.try_lock().unwrap().is_consistent());
            }
        }
    }
}

/// A peer rewrites `__list.__next` of the older of two mutexes a holder holds (shmkit links
/// its mutexes at the tail of the holder's robust list, so the older one comes first), which
/// would hide the newer one from the kernel's walk of the holder's robust list when it
/// dies. The holder's next call (here a `try_lock` of another mutex) writes it back from its
/// own record, so a kill after that still marks both `FUTEX_OWNER_DIED` (glibc rewrote
/// nothing, so the entry behind stayed hidden and kept the dead holder's id). Killed
/// *before* any further call (the documented window), the newer mutex keeps the dead
/// holder's id: `lock()` still finds it gone and returns `OwnerDied`.
#[test]
fn a_rewritten_list_pointer_of_a_held_mutex_is_put_back_before_the_holder_dies() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let mutexes: Vec<_> = (0..4)
        .map(|i| RobustMutex::<Guarded, _>::create_in(map.region(), i * SECOND, [0, 0, 0]).unwrap())
        .collect();
    for call_before_death in [true, false] {
        let mut p = common::spawn_probe(
            &MutexProbe::Multi { key: seg.key() },
            ProbeOptions::default(),
        );
        assert_eq!(p.next_result(), "ready");
        assert_eq!(multi(&mut p, MultiStep::Lock { n: 0 }), "ok");
        assert_eq!(multi(&mut p, MultiStep::Lock { n: 1 }), "ok");
        // Mutex 0 is first in the holder's list, and its __next leads to mutex 1 (whose
        // __prev names mutex 0: entries are the holder's addresses of `__list.__next`).
        let entry1 = pointer(&map, W_NEXT);
        assert_eq!(pointer(&map, SECOND + W_PREV), entry1 - SECOND as u64);
        map.write_at(PTHREAD_AT + W_NEXT, &0u64.to_ne_bytes())
            .unwrap();
        if call_before_death {
            assert_eq!(multi(&mut p, MultiStep::Try { n: 2 }), "ok");
            assert_eq!(pointer(&map, W_NEXT), entry1, "put back");
        }
        let tid = lock_word(&map, 1);
        p.kill();
        assert_eq!(
            lock_word(&map, 0) & 0x4000_0000,
            0x4000_0000,
            "the first entry is marked"
        );
        if call_before_death {
            assert_eq!(
                lock_word(&map, 1),
                0x4000_0000,
                "the newer entry was reached and marked"
            );
        } else {
            assert_eq!(
                lock_word(&map, 1),
                tid,
                "hidden from the kernel: still the dead id"
            );
        }
        for m in &mutexes[..2] {
            let mut g = m.lock().unwrap_err().into_owner_died().expect("owner died");
            g.mark_consistent().unwrap();
        }
    }
}

/// `fork` in a thread that holds a mutex: the child holds none of the parent's locks
/// (glibc empties its robust list), so for the child the parent's lock is another's
/// (`WouldBlock`, not `Deadlock`), and a lock the child takes is on the child's own list:
/// the child exiting with it held leaves it owner-died.
#[test]
fn a_child_of_fork_holds_none_of_the_parents_locks_and_has_its_own_list() {
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    let a = RobustMutex::create_in(map.region(), 0, 0u64).unwrap();
    let b = RobustMutex::create_in(map.region(), SECOND, 0u64).unwrap();
    let held = a.lock().unwrap();
    // SAFETY: the child only locks (no allocation on these paths, and glibc's malloc is
    // fork-safe anyway) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match a.try_lock() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => match b.lock() {
                Ok(g) => {
                    std::mem::forget(g);
                    0
                }
                Err(_) => 2,
            },
            _ => 1,
        };
        // SAFETY: ends the child at once, holding `b`.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "1: the parent's lock looked like the child's; 2: b failed"
    );
    drop(held);
    let mut g = b
        .lock()
        .unwrap_err()
        .into_owner_died()
        .expect("the child died holding b");
    g.mark_consistent().unwrap();
    assert!(a.try_lock().unwrap().is_consistent());
}
