//! A hostile peer scribbles random bytes over the headers, lock words, sequence words and
//! values of every `sync` structure while another process uses them with timeouts: that
//! process gets errors (and successes), never a crash, an out-of-bounds access or a hang.

mod common;
mod sync_probe;

use common::ProbeOptions;
use shmkit::sync::{Condvar, Event, RobustMutex, SeqLock};
use sync_probe::{Guarded, SyncProbe, CONDVAR_AT, EVENT_AT, MUTEX_AT, SEQLOCK_AT};

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<SyncProbe>();
}

#[test]
fn scribbled_structures_give_errors_never_crashes_or_hangs() {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    let region = map.region();
    RobustMutex::<Guarded, _>::create_in(region, MUTEX_AT, [0; 3]).unwrap();
    Condvar::create_in(region, CONDVAR_AT).unwrap();
    Event::create_in(region, EVENT_AT).unwrap();
    assert_eq!(SeqLock::<[u64; 8], shmkit::Attachment>::SIZE, 256);
    SeqLock::create_in(region, SEQLOCK_AT, [0u64; 8]).unwrap();
    let key = seg.key();
    for round in 0..4 {
        let seed = common::random_u64();
        let mut scribbler =
            common::spawn_probe(&SyncProbe::Scribble { key, seed }, ProbeOptions::default());
        assert_eq!(scribbler.next_result(), "scribbling");
        let mut victim = common::spawn_probe(
            &SyncProbe::HostileVictim { key, iters: 10000 },
            ProbeOptions::default(),
        );
        // Gives up (fails) after a minute: a hang is a failure, not a wait.
        common::wait_until("the victim to finish", || {
            victim.child.try_wait().unwrap().is_some()
        });
        let status = victim.child.wait().unwrap();
        assert!(
            status.success(),
            "round {round}: the victim died: {status:?}"
        );
        let summary = victim.finish();
        eprintln!("hostile round {round} (seed {seed}): {summary}");
        assert!(summary.starts_with("done ok="), "round {round}: {summary}");
        scribbler.kill();
    }
}
