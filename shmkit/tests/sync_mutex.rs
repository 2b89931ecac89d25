//! `RobustMutex` with real processes and real SIGKILL: holders killed inside the critical
//! section, waiters blocked in a third process, not-recoverable mutexes, stopped holders,
//! and pid namespaces.

mod common;
mod sync_probe;

use common::ProbeOptions;
use shmkit::sync::{LockError, RobustMutex};
use shmkit::{ErrorKind, Key, Segment};
use std::time::{Duration, Instant};
use sync_probe::Guarded;

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    sync_probe::probe_main();
}

fn spawn(op: &str, key: Key) -> common::RunningProbe {
    common::spawn_probe(&[op, &key.to_string()], ProbeOptions::default())
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

#[test]
fn holder_killed_1000_times_inside_the_critical_section() {
    const ROUNDS: usize = 1000;
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    let mut recovery = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let mut holder = spawn("mutex-hold", seg.key());
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
        let mut holder = spawn("mutex-hold", seg.key());
        assert_eq!(holder.next_result(), "holding");
        let mut waiter = spawn("mutex-lock-report", seg.key());
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
    let mut holder = spawn("mutex-hold", seg.key());
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
        &["mutex-lock", &seg.key().to_string()],
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
    let mut holder = spawn("mutex-hold", seg.key());
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
    let key = seg.key().to_string();
    assert_eq!(
        common::run_probe(&["mutex-open", &key], ProbeOptions::default()).result(),
        "ok"
    );
    assert_eq!(
        sync_probe::run_in_new_pid_namespace(&["mutex-open", &key]),
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
