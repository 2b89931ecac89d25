//! Probe operations for the `sync` tests: the child-process side of the kill tests.
//!
//! Each `sync_*.rs` test file serves [`SyncProbe`] from its ignored test `probe`
//! (`common::probe::serve::<SyncProbe>()`); `common::spawn_probe` and `common::run_probe`
//! start one (see `common::probe`). Replies are `PROBE: …` lines.
#![allow(dead_code, unreachable_pub, missing_docs)]

use crate::common::probe::{probe_enum, Probe};
use shmkit::sync::{Condvar, Event, LockError, MutexGuard, RobustMutex, SeqLock};
use shmkit::{Key, Segment};

/// The value the mutex tests protect: `[a, b, count]`; the invariant is `a == b`.
/// The condition-variable tests use it as `[generation, wake-ups, unused]`.
pub type Guarded = [u64; 3];

/// Where the condition-variable tests put their structures in the segment.
pub const MUTEX_AT: usize = 0;
pub const CONDVAR_AT: usize = 128;
pub const EVENT_AT: usize = 256;
/// A u32 generation counter for the event tests.
pub const FLAG_AT: usize = 384;

/// Where the hostile-peer test puts its seqlock (the other structures as above).
pub const SEQLOCK_AT: usize = 512;

/// The byte ranges the scribbler overwrites: every header, the lock words glibc checks
/// (`__lock`, `__count`, `__owner`, `__nusers`: the first 16 bytes of each
/// `pthread_mutex_t`), the sequence and waiter words, and the values. Left alone: the
/// mutexes' `__kind` and robust-list pointers, which glibc trusts (see the `sync` docs).
pub const SCRIBBLE_RANGES: [(usize, usize); 10] = [
    (0, 64),                              // mutex header
    (64, 80),                             // mutex lock words
    (104, 128),                           // mutex value
    (CONDVAR_AT, CONDVAR_AT + 72),        // condvar header, seq, waiters
    (EVENT_AT, EVENT_AT + 72),            // event header, seq, waiters
    (FLAG_AT, FLAG_AT + 4),               // event flag
    (SEQLOCK_AT, SEQLOCK_AT + 64),        // seqlock header
    (SEQLOCK_AT + 64, SEQLOCK_AT + 80),   // seqlock writer lock words
    (SEQLOCK_AT + 128, SEQLOCK_AT + 132), // seqlock seq
    (SEQLOCK_AT + 136, SEQLOCK_AT + 200), // seqlock value
];

/// A small xorshift generator (probes cannot share the test's random source).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The seqlock tests' value: 4 KiB whose last word is a checksum of the others, so that
/// a torn copy (parts of two writes) is detected.
pub type Payload = [u64; 512];

/// The `n`th value a writer writes: `n`, then words derived from it, then the checksum.
pub fn payload(n: u64) -> Payload {
    let mut p = [0u64; 512];
    p[0] = n;
    let mut x = n;
    for w in p.iter_mut().take(511).skip(1) {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        *w = z ^ (z >> 31);
    }
    p[511] = checksum(&p);
    p
}

/// FNV-1a over the first 511 words.
pub fn checksum(p: &Payload) -> u64 {
    p[..511].iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &w| {
        (h ^ w).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Whether a value read back is one that a writer wrote, whole: its checksum matches.
pub fn intact(p: &Payload) -> bool {
    p[511] == checksum(p)
}

/// Locks, marking an owner-died lock consistent (the condition-variable tests keep no
/// invariant that a dead holder could break).
pub fn lock_repairing<R: std::ops::Deref<Target = shmkit::Region>>(
    m: &RobustMutex<Guarded, R>,
) -> MutexGuard<'_, Guarded, R> {
    match m.lock() {
        Ok(g) => g,
        Err(LockError::OwnerDied(mut g)) => {
            g.mark_consistent().expect("mark consistent");
            g
        }
        Err(LockError::Failed(e)) => panic!("lock: {e}"),
    }
}

pub use crate::common::probe::say;

probe_enum! {
    /// What a `sync` probe process does with the structures of the test segment `key`.
    pub enum SyncProbe {
        /// Open the mutex at offset 0; reply `ok` or the error kind.
        MutexOpen { key: Key },
        /// One lock, reply its outcome (see [`lock_report`]).
        MutexLock { key: Key },
        /// Say `locking ADDRESS` (the lock word's), then lock and reply as `MutexLock`.
        MutexLockReport { key: Key },
        /// Lock, break the invariant (a != b), count, say `holding`, then stay in the
        /// critical section (moving `a`, never onto `b`) until killed.
        MutexHold { key: Key },
        /// Say `waiting`, wait on the condition variable until the generation changes,
        /// count the wake-up, reply `woke`.
        CondWait { key: Key },
        /// Say `waiting`, wait on the event until the flag word changes, reply `woke`.
        EventWait { key: Key },
        /// Write `payload(first)`, then `payload(first + 1)` and `payload(first + 2)`
        /// alternately until killed; say `writing` when the loop starts.
        SeqWrite { key: Key, first: u64 },
        /// Overwrite random bytes of `SCRIBBLE_RANGES` until killed, sometimes putting the
        /// original bytes back; say `scribbling` first.
        Scribble { key: Key, seed: u64 },
        /// Use every structure `iters` times, with timeouts only, while a scribbler works;
        /// reply `done ok=N errors={…}`.
        HostileVictim { key: Key, iters: u64 },
    }
}

impl Probe for SyncProbe {
    const FAMILY: &'static str = "SyncProbe";

    fn run(self) {
        match self {
            SyncProbe::MutexOpen { key } => mutex_open(key),
            SyncProbe::MutexLock { key } => mutex_lock(key, false),
            SyncProbe::MutexLockReport { key } => mutex_lock(key, true),
            SyncProbe::MutexHold { key } => mutex_hold(key),
            SyncProbe::CondWait { key } => cond_wait(key),
            SyncProbe::EventWait { key } => event_wait(key),
            SyncProbe::SeqWrite { key, first } => seq_write(key, first),
            SyncProbe::Scribble { key, seed } => scribble(key, seed),
            SyncProbe::HostileVictim { key, iters } => say(hostile_victim(&attach(key), iters)),
        }
    }
}

pub fn attach(key: Key) -> shmkit::Attachment {
    Segment::open(key)
        .and_then(|s| s.attach())
        .expect("attaching the test segment")
}

fn mutex_open(key: Key) {
    let map = attach(key);
    let opened = RobustMutex::<Guarded, _>::open_in(map.region(), 0);
    match opened {
        Ok(_) => say("ok"),
        Err(e) => say(format!("{:?}", e.kind())),
    }
}

fn mutex_lock(key: Key, report_address: bool) {
    let map = attach(key);
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).expect("open");
    if report_address {
        say(format!("locking {:#x}", map.address() + 64));
    }
    say(lock_report(&m));
}

fn mutex_hold(key: Key) {
    let map = attach(key);
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), 0).expect("open");
    let mut g = match m.lock() {
        Ok(g) => g,
        Err(e) => return say(format!("lock failed: {e}")),
    };
    g[0] = g[0].wrapping_add(1);
    g[2] += 1;
    say("holding");
    loop {
        g[0] = g[0].wrapping_add(1);
        if g[0] == g[1] {
            g[0] = g[0].wrapping_add(1);
        }
        std::hint::spin_loop();
    }
}

fn cond_wait(key: Key) {
    let map = attach(key);
    let m = RobustMutex::<Guarded, _>::open_in(map.region(), MUTEX_AT).expect("open");
    let cv = Condvar::open_in(map.region(), CONDVAR_AT).expect("open condvar");
    let mut g = lock_repairing(&m);
    let generation = g[0];
    say("waiting");
    loop {
        g = match cv.wait(g) {
            Ok(g) => g,
            Err(LockError::OwnerDied(mut g)) => {
                g.mark_consistent().expect("mark consistent");
                g
            }
            Err(LockError::Failed(e)) => return say(format!("wait failed: {e}")),
        };
        if g[0] != generation {
            break;
        }
    }
    g[1] += 1;
    say("woke");
}

fn event_wait(key: Key) {
    let map = attach(key);
    let ev = Event::open_in(map.region(), EVENT_AT).expect("open event");
    let flag = map.atomic_u32(FLAG_AT).unwrap();
    let generation = flag.load(std::sync::atomic::Ordering::Acquire);
    say("waiting");
    loop {
        let token = ev.listen();
        if flag.load(std::sync::atomic::Ordering::Acquire) != generation {
            break;
        }
        ev.wait(token).expect("event wait");
    }
    say("woke");
}

/// The values are precomputed, so that the time goes into writes; between writes the
/// writer spins four times as long as a write takes, so that readers, whose copy is slower
/// than the writer's in a debug build, are not starved.
fn seq_write(key: Key, first: u64) {
    let map = attach(key);
    let lock = SeqLock::<Payload, _>::open_in(map.region(), 0).expect("open seqlock");
    lock.write(&payload(first)).expect("write");
    let values = [payload(first + 1), payload(first + 2)];
    // The shortest of a few writes (a longer one was preempted).
    let write_time = (0..16)
        .map(|_| {
            let start = std::time::Instant::now();
            lock.write(&values[1]).expect("write");
            start.elapsed()
        })
        .min()
        .unwrap();
    say("writing");
    for i in 0.. {
        lock.write(&values[i % 2]).expect("write");
        let pause = std::time::Instant::now();
        while pause.elapsed() < 4 * write_time {
            std::hint::spin_loop();
        }
    }
}

fn scribble(key: Key, seed: u64) {
    let map = attach(key);
    let mut rng = Rng(seed | 1);
    let original = map.read_vec(0, 1024).unwrap();
    say("scribbling");
    // Headers are hit rarely and put back often, so that the structures are
    // valid about half the time and the other words get scribbled while in use.
    let headers = [0, CONDVAR_AT, EVENT_AT, SEQLOCK_AT];
    loop {
        if rng.next() % 8 == 0 {
            for h in headers {
                map.write_at(h, &original[h..h + 64]).unwrap();
            }
        }
        let pick = if rng.next() % 16 == 0 {
            rng.next() as usize % SCRIBBLE_RANGES.len()
        } else {
            // not a header: ranges 1, 2, 5, 7, 8, 9 and the words after the
            // condvar's and event's headers
            [1, 2, 5, 7, 8, 9][rng.next() as usize % 6]
        };
        let (start, end) = SCRIBBLE_RANGES[pick];
        let at = start + (rng.next() as usize) % (end - start);
        let len = (1 + (rng.next() % 8) as usize).min(end - at);
        if rng.next() % 3 == 0 {
            map.write_at(at, &original[at..at + len]).unwrap();
        } else {
            let bytes = rng.next().to_ne_bytes();
            map.write_at(at, &bytes[..len]).unwrap();
        }
        if rng.next() % 4 == 0 {
            // the condvar's and event's words
            let at = [CONDVAR_AT, EVENT_AT][rng.next() as usize % 2] + 64;
            map.write_at(at, &rng.next().to_ne_bytes()).unwrap();
        }
        for _ in 0..(rng.next() % 2000) {
            std::hint::spin_loop();
        }
    }
}

/// Locks and reports `clean`, `owner-died broken` (the invariant was broken; repaired and
/// marked consistent), `owner-died intact`, or the error kind.
pub fn lock_report<R: std::ops::Deref<Target = shmkit::Region>>(
    m: &RobustMutex<Guarded, R>,
) -> String {
    match m.lock() {
        Ok(_) => "clean".into(),
        Err(LockError::OwnerDied(mut g)) => {
            let broken = g[0] != g[1];
            g[1] = g[0];
            g.mark_consistent().expect("mark consistent");
            if broken {
                "owner-died broken".into()
            } else {
                "owner-died intact".into()
            }
        }
        Err(LockError::Failed(e)) => format!("{:?}", e.kind()),
    }
}

/// Whether a thread of `pid` is blocked in `futex(2)` on the address `addr`, according to
/// `/proc/PID/task/*/syscall` (syscall number, then the arguments in hex).
pub fn blocked_in_futex_at(pid: u32, addr: usize) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        let Ok(text) = std::fs::read_to_string(t.path().join("syscall")) else {
            return false;
        };
        let mut fields = text.split_whitespace();
        let nr = fields.next().and_then(|f| f.parse::<i64>().ok());
        let arg0 = fields
            .next()
            .and_then(|f| usize::from_str_radix(f.trim_start_matches("0x"), 16).ok());
        nr == Some(libc::SYS_futex) && arg0 == Some(addr)
    })
}

fn hostile_victim(map: &shmkit::Attachment, iters: u64) -> String {
    use std::collections::BTreeMap;
    use std::time::Duration;
    let short = Duration::from_micros(200);
    let mut ok = 0u64;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut note = |r: Result<(), shmkit::ErrorKind>| match r {
        Ok(()) => ok += 1,
        Err(kind) => *errors.entry(format!("{kind:?}")).or_default() += 1,
    };
    let region = map.region();
    for i in 0..iters {
        match i % 5 {
            0 | 1 => match RobustMutex::<Guarded, _>::open_in(region, MUTEX_AT) {
                Err(e) => note(Err(e.kind())),
                Ok(m) => {
                    let r = if i % 5 == 0 {
                        m.lock_timeout(short)
                    } else {
                        m.try_lock()
                    };
                    match r {
                        Ok(mut g) => {
                            g[2] = g[2].wrapping_add(1);
                            note(g.unlock().map_err(|e| e.kind()));
                        }
                        Err(LockError::OwnerDied(mut g)) => {
                            note(Err(shmkit::ErrorKind::OwnerDied));
                            note(g.mark_consistent().map_err(|e| e.kind()));
                        }
                        Err(LockError::Failed(e)) => note(Err(e.kind())),
                    }
                }
            },
            2 => {
                let m = RobustMutex::<Guarded, _>::open_in(region, MUTEX_AT);
                let cv = Condvar::open_in(region, CONDVAR_AT);
                match (m, cv) {
                    (Ok(m), Ok(cv)) => match m.lock_timeout(short) {
                        Ok(g) => match cv.wait_timeout(g, short) {
                            Ok(_) => note(Ok(())),
                            Err(LockError::OwnerDied(mut g)) => {
                                note(Err(shmkit::ErrorKind::OwnerDied));
                                note(g.mark_consistent().map_err(|e| e.kind()));
                            }
                            Err(LockError::Failed(e)) => note(Err(e.kind())),
                        },
                        Err(LockError::OwnerDied(mut g)) => {
                            note(g.mark_consistent().map_err(|e| e.kind()));
                        }
                        Err(LockError::Failed(e)) => note(Err(e.kind())),
                    },
                    (Err(e), _) | (_, Err(e)) => note(Err(e.kind())),
                }
                if let Ok(cv) = Condvar::open_in(region, CONDVAR_AT) {
                    note(cv.notify_all().map_err(|e| e.kind()));
                }
            }
            3 => match Event::open_in(region, EVENT_AT) {
                Err(e) => note(Err(e.kind())),
                Ok(ev) => {
                    let t = ev.listen();
                    note(ev.wait_timeout(t, short).map_err(|e| e.kind()));
                    note(ev.notify_one().map_err(|e| e.kind()));
                }
            },
            _ => match SeqLock::<[u64; 8], _>::open_in(region, SEQLOCK_AT) {
                Err(e) => note(Err(e.kind())),
                Ok(s) => {
                    note(s.read_timeout(short).map(drop).map_err(|e| e.kind()));
                    note(s.try_read().map(drop).map_err(|e| e.kind()));
                    note(s.write_timeout(&[i; 8], short).map_err(|e| e.kind()));
                }
            },
        }
    }
    format!("done ok={ok} errors={errors:?}")
}
