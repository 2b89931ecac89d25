//! `Condvar` and `Event` with real processes: waiters killed at random points, 3 per round;
//! after each round `notify_all` returns and a fresh waiter wakes.

mod common;
mod sync_probe;

use common::ProbeOptions;
use shmkit::sync::{Condvar, Event, LockError, RobustMutex};
use shmkit::ErrorKind;
use std::sync::atomic::Ordering;
use std::time::Duration;
use sync_probe::{lock_repairing, Guarded, SyncProbe, CONDVAR_AT, EVENT_AT, FLAG_AT, MUTEX_AT};

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<SyncProbe>();
}

fn random_spin() {
    let n = common::random_u64() % 20_000;
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

#[test]
fn layout_constants_match_the_probe() {
    assert_eq!(RobustMutex::<Guarded>::SIZE, CONDVAR_AT);
    assert_eq!(CONDVAR_AT + Condvar::<shmkit::Attachment>::SIZE, EVENT_AT);
    assert_eq!(EVENT_AT + Event::<shmkit::Attachment>::SIZE, FLAG_AT);
}

#[test]
fn wait_timeout_times_out_and_threads_are_woken() {
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), MUTEX_AT, [0; 3]).unwrap();
    let cv = Condvar::create_in(map.region(), CONDVAR_AT).unwrap();
    let (g, r) = cv
        .wait_timeout(m.lock().unwrap(), Duration::from_millis(10))
        .unwrap();
    assert!(r.timed_out());
    drop(g);
    // Nobody waits: notifications are cheap no-ops.
    cv.notify_one().unwrap();
    cv.notify_all().unwrap();
    // Two threads wait for generation 1; notify_one then notify_all wake them.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut g = m.lock().unwrap();
                while g[0] == 0 {
                    g = cv.wait(g).unwrap();
                }
                g[1] += 1;
            });
        }
        common::wait_until("both threads to wait", || {
            map.load_u32(CONDVAR_AT + 68, Ordering::SeqCst).unwrap() == 2
        });
        m.lock().unwrap()[0] = 1;
        cv.notify_one().unwrap();
        cv.notify_all().unwrap();
    });
    assert_eq!(m.lock().unwrap()[1], 2);
    // Opening checks the header.
    assert!(Condvar::open_in(map.region(), CONDVAR_AT).is_ok());
    assert_eq!(
        Event::open_in(map.region(), CONDVAR_AT).unwrap_err().kind(),
        ErrorKind::LayoutMismatch
    );
}

#[test]
fn event_wait_returns_for_a_notification_after_listen() {
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    let ev = Event::create_in(map.region(), EVENT_AT).unwrap();
    let token = ev.listen();
    assert_eq!(
        ev.wait_timeout(token, Duration::from_millis(5))
            .unwrap_err()
            .kind(),
        ErrorKind::TimedOut
    );
    ev.notify_one().unwrap();
    // The notification came after the token: no wait at all.
    ev.wait(token).unwrap();
    ev.wait_timeout(token, Duration::ZERO).unwrap();
    std::thread::scope(|s| {
        let t = ev.listen();
        let ev = &ev;
        s.spawn(move || ev.wait(t).unwrap());
        ev.notify_all().unwrap();
    });
}

#[test]
fn condvar_survives_3_waiters_killed_per_round_for_300_rounds() {
    const ROUNDS: usize = 300;
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let m = RobustMutex::<Guarded, _>::create_in(map.region(), MUTEX_AT, [0; 3]).unwrap();
    let cv = Condvar::create_in(map.region(), CONDVAR_AT).unwrap();
    let key = seg.key();
    let mut owner_died = 0;
    for round in 0..ROUNDS {
        let mut doomed: Vec<_> = (0..3)
            .map(|_| common::spawn_probe(&SyncProbe::CondWait { key }, ProbeOptions::default()))
            .collect();
        for w in &mut doomed {
            assert_eq!(w.next_result(), "waiting", "round {round}");
        }
        random_spin();
        if common::random_u64() % 2 == 0 {
            // Wake them without changing the generation: they die while waking, relocking
            // or going back to sleep.
            cv.notify_all().unwrap();
            random_spin();
        }
        for w in doomed {
            w.kill();
        }
        // A killed waiter may have held the mutex (between its wake-up and its next wait).
        if let Err(LockError::OwnerDied(mut g)) = m.try_lock() {
            g.mark_consistent().unwrap();
            owner_died += 1;
        }
        cv.notify_all().expect("notify_all after the kills");
        let mut fresh = common::spawn_probe(&SyncProbe::CondWait { key }, ProbeOptions::default());
        assert_eq!(fresh.next_result(), "waiting", "round {round}");
        lock_repairing(&m)[0] += 1;
        cv.notify_all().unwrap();
        assert_eq!(fresh.finish(), "woke", "round {round}");
    }
    let g = lock_repairing(&m);
    assert_eq!(g[0], ROUNDS as u64);
    assert_eq!(
        g[1], ROUNDS as u64,
        "exactly the fresh waiters counted a wake-up"
    );
    eprintln!(
        "condvar: {ROUNDS} rounds, {} waiters killed, {owner_died} rounds where a killed waiter held the mutex, 0 failures",
        3 * ROUNDS
    );
}

#[test]
fn event_survives_3_waiters_killed_per_round() {
    const ROUNDS: usize = 100;
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let ev = Event::create_in(map.region(), EVENT_AT).unwrap();
    let flag = map.atomic_u32(FLAG_AT).unwrap();
    let key = seg.key();
    for round in 0..ROUNDS {
        let mut doomed: Vec<_> = (0..3)
            .map(|_| common::spawn_probe(&SyncProbe::EventWait { key }, ProbeOptions::default()))
            .collect();
        for w in &mut doomed {
            assert_eq!(w.next_result(), "waiting", "round {round}");
        }
        random_spin();
        if common::random_u64() % 2 == 0 {
            ev.notify_all().unwrap();
        }
        for w in doomed {
            w.kill();
        }
        ev.notify_all().expect("notify_all after the kills");
        let mut fresh = common::spawn_probe(&SyncProbe::EventWait { key }, ProbeOptions::default());
        assert_eq!(fresh.next_result(), "waiting", "round {round}");
        flag.fetch_add(1, Ordering::Release);
        ev.notify_all().unwrap();
        assert_eq!(fresh.finish(), "woke", "round {round}");
    }
}
