//! A `RobustMutex` and a C program locking the same `pthread_mutex_t` with glibc's own
//! `pthread_mutex_lock` (the peer is `tests/peers/robust_peer.c`, compiled here): shmkit
//! implements glibc's robust-mutex protocol itself, on the same words, so the two must
//! exclude each other, wake each other, and see each other's deaths as owner-died (the
//! kernel walks shmkit's entries in glibc's robust list of a killed thread, and glibc's in a
//! killed C program), including not-recoverable mutexes, in both directions.

mod common;
mod interop;
mod sync_probe;

use common::ProbeOptions;
use shmkit::sync::{LockError, RobustMutex};
use shmkit::ErrorKind;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use sync_probe::{Guarded, SyncProbe};

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<SyncProbe>();
}

/// Where the `pthread_mutex_t` and the value of a `RobustMutex<Guarded>` at offset 0 are.
const MUTEX_AT: usize = 64;
const DATA_AT: usize = 104;

fn c_peer() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| interop::build_c("robust_peer.c"))
}

/// A running C peer, read line by line.
struct Peer {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl Peer {
    fn spawn(op: &str, id: i32, extra: &[&str]) -> Peer {
        let mut child = Command::new(c_peer())
            .arg(op)
            .arg(id.to_string())
            .arg(MUTEX_AT.to_string())
            .arg(DATA_AT.to_string())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("running the C peer");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Peer { child, lines }
    }

    fn line(&mut self) -> String {
        match self.lines.next() {
            Some(line) => line.expect("reading the C peer"),
            None => {
                let status = self.child.wait().unwrap();
                panic!("the C peer ended without a line ({status:?})")
            }
        }
    }

    /// Waits for the peer to exit and checks that it exited 0.
    fn finish(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the C peer failed: {status:?}");
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn segment_and_mutex() -> (shmkit::RemoveOnDrop<shmkit::Segment>, shmkit::Attachment) {
    let seg = common::keyed_segment(4096, 0o600);
    let map = seg.attach().unwrap();
    RobustMutex::<Guarded, _>::create_in(map.region(), 0, [0, 0, 0]).unwrap();
    (seg, map)
}

fn id_of(seg: &shmkit::Segment) -> i32 {
    seg.id().raw()
}

/// shmkit's threads and two C processes bump the same counter under the same mutex, each
/// checking the invariant inside: no update is lost and no critical section overlaps.
#[test]
fn c_and_shmkit_lockers_exclude_each_other() {
    const ROUNDS: u64 = 20_000;
    let (seg, map) = segment_and_mutex();
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).unwrap();
    let peers: Vec<Peer> = (0..2)
        .map(|_| Peer::spawn("count", id_of(&seg), &[&ROUNDS.to_string()]))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for round in 0..ROUNDS {
                    let mut g = m.lock().unwrap();
                    assert_eq!(g[0], g[1], "round {round}: a critical section overlapped");
                    g[0] += 1;
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                    g[1] = g[0];
                    g[2] += 1;
                }
            });
        }
    });
    for mut peer in peers {
        assert_eq!(peer.line(), format!("ok {ROUNDS}"));
        peer.finish();
    }
    let g = m.lock().unwrap();
    assert_eq!(g[2], 4 * ROUNDS);
    assert_eq!(g[0], g[1]);
}

/// A C program killed while it holds the mutex: shmkit's next lock is `OwnerDied` (the
/// kernel marked the word through glibc's robust list), with the broken value to repair.
#[test]
fn a_c_holder_killed_gives_owner_died_to_shmkit() {
    let (seg, map) = segment_and_mutex();
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).unwrap();
    for round in 0..5u64 {
        let mut peer = Peer::spawn("hold", id_of(&seg), &[]);
        assert_eq!(peer.line(), "holding");
        assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
        peer.kill();
        let mut g = match m.lock() {
            Err(LockError::OwnerDied(g)) => g,
            Ok(_) => panic!("round {round}: clean after the C holder was killed"),
            Err(LockError::Failed(e)) => panic!("round {round}: {e}"),
        };
        assert_ne!(g[0], g[1], "the C holder's broken invariant is visible");
        assert_eq!(g[2], round + 1);
        g[1] = g[0];
        g.mark_consistent().unwrap();
    }
    assert!(m.lock().unwrap().is_consistent());
}

/// A shmkit holder (another process) killed while it holds the mutex: the C program's
/// `pthread_mutex_lock` returns `EOWNERDEAD`. The kernel found the mutex through the entry
/// shmkit linked into glibc's robust list of the killed thread. Both when the C program
/// locks after the death and when it is already asleep in the kernel at the time (then the
/// kernel's death handling must wake it).
#[test]
fn a_shmkit_holder_killed_gives_eownerdead_to_c() {
    let (seg, _map) = segment_and_mutex();
    let key = seg.key();
    for blocked in [false, true] {
        let mut holder =
            common::spawn_probe(&SyncProbe::MutexHold { key }, ProbeOptions::default());
        assert_eq!(holder.next_result(), "holding");
        let mut peer = None;
        if blocked {
            let mut p = Peer::spawn("lock", id_of(&seg), &[]);
            let line = p.line();
            let addr = usize::from_str_radix(line.trim_start_matches("locking 0x"), 16)
                .unwrap_or_else(|_| panic!("{line}"));
            let pid = p.child.id();
            common::wait_until("the C peer to sleep on the lock word", || {
                sync_probe::blocked_in_futex_at(pid, addr)
            });
            peer = Some(p);
        }
        holder.kill();
        let mut peer = peer.unwrap_or_else(|| {
            let mut p = Peer::spawn("lock", id_of(&seg), &[]);
            assert!(p.line().starts_with("locking "));
            p
        });
        assert_eq!(peer.line(), "owner-died broken", "blocked: {blocked}");
        peer.finish();
    }
    // Repaired and released by C: clean for shmkit.
    let r = common::run_probe(&SyncProbe::MutexLock { key }, ProbeOptions::default());
    assert_eq!(r.result(), "clean");
}

/// Each side wakes the other: a C locker asleep on a lock shmkit holds gets it when shmkit
/// unlocks, and a shmkit locker asleep on a lock C holds gets it when C unlocks (glibc's
/// unlock sees the `FUTEX_WAITERS` bit shmkit set, and wakes it).
#[test]
fn c_and_shmkit_wake_each_other() {
    let (seg, map) = segment_and_mutex();
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).unwrap();
    // C waits for shmkit.
    let g = m.lock().unwrap();
    let mut peer = Peer::spawn("lock", id_of(&seg), &[]);
    let line = peer.line();
    let addr = usize::from_str_radix(line.trim_start_matches("locking 0x"), 16).unwrap();
    let pid = peer.child.id();
    common::wait_until("the C peer to sleep on the lock word", || {
        sync_probe::blocked_in_futex_at(pid, addr)
    });
    drop(g);
    assert_eq!(peer.line(), "clean");
    peer.finish();
    // shmkit waits for C.
    let mut peer = Peer::spawn("hold-until-line", id_of(&seg), &[]);
    assert_eq!(peer.line(), "holding");
    let word = map.address() + MUTEX_AT;
    std::thread::scope(|s| {
        let waiter = s.spawn(|| m.lock().map(|g| g[2]).map_err(|e| e.kind()));
        common::wait_until("shmkit to sleep on the lock word", || {
            sync_probe::blocked_in_futex_at(std::process::id(), word)
        });
        let stdin = peer.child.stdin.as_mut().unwrap();
        writeln!(stdin, "go").unwrap();
        stdin.flush().unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(0), "shmkit got the lock, clean");
    });
    assert_eq!(peer.line(), "released");
    peer.finish();
}

/// Not recoverable across implementations: an owner-died lock that C unlocks without
/// `pthread_mutex_consistent` is `NotRecoverable` for shmkit, and one that shmkit drops
/// unrepaired is `ENOTRECOVERABLE` for C.
#[test]
fn not_recoverable_is_shared_with_c_both_ways() {
    for c_drops in [true, false] {
        let (seg, map) = segment_and_mutex();
        let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).unwrap();
        let mut holder = Peer::spawn("hold", id_of(&seg), &[]);
        assert_eq!(holder.line(), "holding");
        holder.kill();
        if c_drops {
            let mut peer = Peer::spawn("drop-inconsistent", id_of(&seg), &[]);
            assert_eq!(peer.line(), "dropped");
            peer.finish();
            assert_eq!(m.lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
            assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
        } else {
            drop(m.lock().unwrap_err().into_owner_died().expect("owner died"));
            let mut peer = Peer::spawn("lock", id_of(&seg), &[]);
            assert!(peer.line().starts_with("locking "));
            assert_eq!(peer.line(), "notrecoverable");
            peer.finish();
        }
    }
}
