//! A hostile-peer soak of every structure shmkit lays out in a segment: the SPSC channel,
//! the MPMC queue, the pub-sub channel, a named channel (name block and channel), the robust
//! mutex, the condition variable and event, and the seqlock.
//!
//! For each structure, real endpoints run in separate processes (the *victims*), each
//! calling the structure's operations in a loop with short timeouts, while another process
//! (the *scribbler*) writes hostile values into it:
//!
//! 1. every word of the layout in turn (header fields, counters, indices, stamps, lengths,
//!    pid slots and handle tables, futex words, the `pthread_mutex_t` words `__lock`,
//!    `__count`, `__owner`, `__nusers`, `__kind`, `__spins`/`__elision`, `__list`), each
//!    with a table of values: 0, 1, small numbers, `u32`/`u64` limits and their neighbours,
//!    powers of two up to 2^63, values next to the word's current one, values that mean
//!    something for that word (capacity ± 1, the next stamp, a tag, a kind bit), the
//!    scribbler's own pid and tid, pid 1, a dead pid, the victims' pids and tids;
//! 2. then random bytes at random offsets, aligned and unaligned.
//!
//! After each hostile write the scribbler waits (yielding, never sleeping) until the victims
//! completed at least one more operation, then usually puts the old value back if the word
//! still holds its own (a compare-and-swap), so that each value meets a working structure.
//! Before each word it rebuilds the structure (a channel is laid out again; a sync
//! structure gets its header, state and unlocked lock words back, and its futex words a
//! wake-up), as a peer could.
//!
//! What is asserted, for every victim:
//! - it was not killed by a signal (`SIGSEGV`, `SIGBUS`, `SIGABRT` from glibc, ...): a
//!   victim is a separate process, so its death is an exit status here, not ours;
//! - no call panicked (each call runs under `catch_unwind`);
//! - every call returned `Ok` (data) or an `Err` whose kind is a specific [`ErrorKind`]
//!   (`ErrorKind::Other`, an errno nobody mapped, counts as untyped and fails);
//! - every call with a timeout returned within that timeout plus [`BOUND`], and every call
//!   that does not wait (`try_*`, `notify`, `unlock`, opening) within [`BOUND`]: the victim
//!   measures each call, and this process watches the calls in flight, so a call that
//!   never returns fails the test after `timeout + BOUND` instead of hanging it;
//! - calls that wait without a timeout (`RobustMutex::lock`, `Condvar::wait`, `Event::wait`,
//!   `SeqLock::read`, `SeqLock::write`) may wait as long as a peer holds the lock or does
//!   not notify, which a hostile peer can always do; they are checked for signal deaths and
//!   panics like the others, and for hangs: once the scribbler has stopped, this process
//!   acts as a well-behaved peer (restores the lock words, notifies), and every victim must
//!   then finish within [`HANG_LIMIT`];
//! - the scribbler wrote every word of the table with its values, and its random words.
//!
//! The figures (operations, errors by kind, scribbled words, the longest call past its
//! timeout) are printed with `eprintln!`: `cargo test -p shmkit --test hostile_soak --
//! --nocapture` shows them. `SOAK_ROUNDS=N` repeats the scribbler's passes N times (1 by
//! default). With `SHMKIT_SOAK_VALGRIND=1` the victims run under valgrind's memcheck
//! (`--error-exitcode=99`: any memcheck error fails the test), with every bound multiplied
//! by [`VALGRIND_SLOWDOWN`] and fewer values per word (valgrind runs code some 20 to 50
//! times slower).

mod common;

use shmkit::channel::mpmc::{self, Consumer, Producer};
use shmkit::channel::named::NamedChannel;
use shmkit::channel::pubsub::{self, Publisher, Subscriber};
use shmkit::channel::{spsc, Receiver, Sender, Wait};
use shmkit::sync::{Condvar, Event, LockError, MutexGuard, RobustMutex, SeqLock};
use shmkit::{Attachment, ErrorKind, ReadOnly, ReadWrite, Region, Segment, ShmId};
use std::collections::BTreeMap;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The requirement under test, not a speed claim: every call returns within its timeout
/// plus this (calls that do not wait: within this). Generous, so that a loaded machine does
/// not fail it; a call that spins past its deadline, or never returns, does.
const BOUND: Duration = Duration::from_secs(2);
/// How much slower code runs under valgrind than natively, for the bounds (valgrind
/// serialises threads and instruments every instruction: 20 to 50 times slower).
const VALGRIND_SLOWDOWN: u32 = 25;
/// After the scribbler stopped: how long a call that waits without a timeout may wait
/// before this process restores the structure and wakes it, as a well-behaved peer would.
const GRACE: Duration = Duration::from_millis(500);
/// After the scribbler stopped: how long the victims have to finish their last call and
/// exit. A victim still running then is a hang.
const HANG_LIMIT: Duration = Duration::from_secs(30);
/// How long the scribbler waits for the victims to make progress after a write before it
/// goes on anyway (a victim can be inside a 20 ms timed wait).
const PROGRESS_WAIT: Duration = Duration::from_millis(100);
/// The timeouts the victims give their timed calls.
const TIMEOUTS: [Duration; 3] = [
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(5),
];
/// Random writes per pass (fewer under valgrind).
const RANDOM_WRITES: usize = 1000;
const RANDOM_WRITES_VALGRIND: usize = 300;
/// Hostile values per word under valgrind (natively: all of them, 50 to 90 per word).
const VALUES_PER_WORD_VALGRIND: usize = 12;

/// Shapes of the structures.
const SPSC_CAP: usize = 1024;
const MPMC_CAP: usize = 8;
const MPMC_MSG: usize = 48;
const PS_SLOTS: usize = 8;
const PS_SLOT_SIZE: usize = 64;
type Value = [u64; 3];
type SeqValue = [u64; 8];
/// Where the condition-variable soak puts its structures.
const CV_MUTEX_AT: usize = 0;
const CV_AT: usize = 128;
const EVENT_AT: usize = 256;
/// Where the channel starts in a named segment (after the name block).
const NAMED_CHANNEL: usize = 256;
/// How long a named open waits for a channel being laid out (`named::READY_WAIT`), which
/// is its timeout.
const NAMED_READY_WAIT: Duration = Duration::from_secs(2);

fn under_valgrind() -> bool {
    std::env::var_os("SHMKIT_SOAK_VALGRIND").is_some_and(|v| v != "0" && !v.is_empty())
}

/// `d`, multiplied by [`VALGRIND_SLOWDOWN`] under valgrind.
fn scaled(d: Duration) -> Duration {
    if under_valgrind() {
        d * VALGRIND_SLOWDOWN
    } else {
        d
    }
}

fn rounds() -> usize {
    std::env::var("SOAK_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// A small xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock `Instant` uses, the same in every process.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// Wakes every waiter on the futex word `word` (shared, not private).
fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a valid, aligned u32 in mapped memory; FUTEX_WAKE only reads the
    // address to find waiters.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

// ----------------------------------------------------------------------------------------
// The board: a private segment through which the processes of one soak see each other.

/// Slot 0 is the control slot; slot 1 the scribbler's; the victims' follow.
const SLOT: usize = 128;
const CONTROL: usize = 0;
const SCRIBBLER: usize = 1;
const FIRST_VICTIM: usize = 2;
/// Control slot: set when the victims must stop (the scribbler finished, or every victim
/// is gone and the scribbler must stop too).
const STOP: usize = 0;
/// A participant's slot: its pid and tid (set when it is ready), operations completed,
/// and the call in flight: its start (`CLOCK_MONOTONIC` ns, 0 when none), its timeout (ns,
/// `u64::MAX` when it has none), and its name.
const PID: usize = 0;
const TID: usize = 8;
const OPS: usize = 16;
const START: usize = 24;
const TIMEOUT: usize = 32;
/// Set by the test when the participant has exited or was killed.
const GONE: usize = 40;
/// The scribbler's slot: the value it wrote last (and, at NAME, where).
const VALUE: usize = 48;
const NAME: usize = 64;
const NAME_LEN: usize = 64;
const UNTIMED: u64 = u64::MAX;

struct Board {
    map: Attachment,
}

impl Board {
    fn word(&self, slot: usize, field: usize) -> &AtomicU64 {
        self.map.atomic_u64(slot * SLOT + field).unwrap()
    }
    fn get(&self, slot: usize, field: usize) -> u64 {
        self.word(slot, field).load(Ordering::Acquire)
    }
    fn set(&self, slot: usize, field: usize, v: u64) {
        self.word(slot, field).store(v, Ordering::Release)
    }
    fn stopped(&self) -> bool {
        self.get(CONTROL, STOP) != 0
    }
    fn begin(&self, slot: usize, op: &str, timeout: Option<Duration>) {
        let mut name = [0u8; NAME_LEN];
        let n = op.len().min(NAME_LEN);
        name[..n].copy_from_slice(&op.as_bytes()[..n]);
        self.map.write_at(slot * SLOT + NAME, &name).unwrap();
        self.set(
            slot,
            TIMEOUT,
            timeout.map_or(UNTIMED, |t| t.as_nanos() as u64),
        );
        self.set(slot, START, now_ns());
    }
    /// The scribbler records what it is writing, for the report of a victim's death.
    fn note(&self, what: &str, v: u64) {
        let mut name = [0u8; NAME_LEN];
        let n = what.len().min(NAME_LEN);
        name[..n].copy_from_slice(&what.as_bytes()[..n]);
        self.map.write_at(SCRIBBLER * SLOT + NAME, &name).unwrap();
        self.set(SCRIBBLER, VALUE, v);
    }
    fn noted(&self) -> String {
        let name = self
            .map
            .read_vec(SCRIBBLER * SLOT + NAME, NAME_LEN)
            .unwrap();
        let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        format!(
            "{} := {:#x}",
            String::from_utf8_lossy(&name[..end]),
            self.get(SCRIBBLER, VALUE)
        )
    }
    fn end(&self, slot: usize) {
        self.set(slot, START, 0);
        self.word(slot, OPS).fetch_add(1, Ordering::AcqRel);
    }
    /// The call in flight in `slot`: its name, how long it has run, and its timeout.
    fn in_flight(&self, slot: usize) -> Option<(String, Duration, Option<Duration>)> {
        let start = self.get(slot, START);
        if start == 0 {
            return None;
        }
        let timeout = self.get(slot, TIMEOUT);
        let name = self.map.read_vec(slot * SLOT + NAME, NAME_LEN).unwrap();
        if self.get(slot, START) != start {
            return None; // it ended meanwhile
        }
        let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        Some((
            String::from_utf8_lossy(&name[..end]).into_owned(),
            Duration::from_nanos(now_ns().saturating_sub(start)),
            (timeout != UNTIMED).then(|| Duration::from_nanos(timeout)),
        ))
    }
}

fn attach_id(id: &str) -> Attachment {
    let id = ShmId::from_raw(id.parse().expect("segment id"));
    Segment::from_id(id)
        .and_then(|s| s.attach())
        .expect("attaching a soak segment")
}

// ----------------------------------------------------------------------------------------
// The structures and their words.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Spsc,
    Mpmc,
    PubSub,
    Named,
    Mutex,
    Condvar,
    SeqLock,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Spsc,
        Kind::Mpmc,
        Kind::PubSub,
        Kind::Named,
        Kind::Mutex,
        Kind::Condvar,
        Kind::SeqLock,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::PubSub => "pubsub",
            Kind::Named => "named",
            Kind::Mutex => "mutex",
            Kind::Condvar => "condvar",
            Kind::SeqLock => "seqlock",
        }
    }

    fn parse(s: &str) -> Kind {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .expect("structure name")
    }

    /// The victims' roles.
    fn roles(self) -> &'static [&'static str] {
        match self {
            Kind::Spsc => &["spsc-sender", "spsc-receiver"],
            Kind::Mpmc => &["mpmc-producer", "mpmc-consumer", "mpmc-both"],
            Kind::PubSub => &["pubsub-publisher", "pubsub-subscriber", "pubsub-read-only"],
            Kind::Named => &["named-sender", "named-receiver"],
            Kind::Mutex => &["mutex", "mutex"],
            Kind::Condvar => &["condvar", "condvar"],
            Kind::SeqLock => &["seqlock-writer", "seqlock-reader"],
        }
    }

    /// The bytes the structure spans in its segment (the random writes' range).
    fn extent(self) -> (usize, usize) {
        match self {
            Kind::Spsc => (0, spsc::size_for(SPSC_CAP)),
            Kind::Mpmc => (0, mpmc::size_for(MPMC_CAP, MPMC_MSG)),
            Kind::PubSub => (0, pubsub::size_for(PS_SLOTS, PS_SLOT_SIZE)),
            Kind::Named => (0, NAMED_CHANNEL + spsc::size_for(SPSC_CAP)),
            Kind::Mutex => (0, RobustMutex::<Value, Attachment>::SIZE),
            Kind::Condvar => (CV_AT, EVENT_AT + Event::<Attachment>::SIZE),
            Kind::SeqLock => (0, SeqLock::<SeqValue, Attachment>::SIZE),
        }
    }

    /// Byte ranges a rebuild puts back from the snapshot taken after creation (the sync
    /// structures; the channels are laid out anew instead): the headers, the values, and of
    /// a `pthread_mutex_t` only `__kind` and `__spins`/`__elision`. Not the lock state
    /// (`__lock`, `__count`, `__owner`, `__nusers`): putting "unlocked" back while a victim
    /// holds the lock would hand it to a second process, which a rebuild is not meant to
    /// test (the table's values do); and never `__list`, through which a holder's robust
    /// list runs. The lock state heals by the table's compare-and-swap restores, and the
    /// watchdog's rescue (`rescue_ranges`) puts it back once the scribbler has stopped.
    fn restore_ranges(self) -> &'static [(usize, usize)] {
        match self {
            Kind::Mutex => &[(0, 64), (64 + 16, 64 + 24), (104, 128)],
            // Not the sequence words: a waiter whose token equals the restored value would
            // sleep on; they are bumped instead.
            Kind::Condvar => &[
                (CV_AT, CV_AT + 64),
                (CV_AT + 68, EVENT_AT + 64),
                (EVENT_AT + 68, EVENT_AT + 128),
            ],
            Kind::SeqLock => &[(0, 64), (64 + 16, 64 + 24), (136, 256)],
            _ => &[],
        }
    }

    /// What the watchdog's rescue puts back, after the scribbler stopped, when a victim is
    /// stuck in a call that waits without a timeout: as a rebuild, and the lock state
    /// (unlocked), and the seqlock's `seq` (even). Never `__list`.
    fn rescue_ranges(self) -> &'static [(usize, usize)] {
        match self {
            Kind::Mutex => &[(0, 64 + 24), (104, 128)],
            Kind::Condvar => &[
                (CV_MUTEX_AT + 64, CV_MUTEX_AT + 80),
                (CV_AT, CV_AT + 64),
                (CV_AT + 68, EVENT_AT + 64),
                (EVENT_AT + 68, EVENT_AT + 128),
            ],
            Kind::SeqLock => &[(0, 64 + 24), (128, 256)],
            _ => &[],
        }
    }

    /// The futex words a rebuild wakes: lock words get every waiter woken, sequence words
    /// are bumped first.
    fn futex_words(self) -> (&'static [usize], &'static [usize]) {
        match self {
            Kind::Mutex | Kind::SeqLock => (&[64], &[]),
            Kind::Condvar => (&[CV_MUTEX_AT + 64], &[CV_AT + 64, EVENT_AT + 64]),
            _ => (&[], &[]),
        }
    }

    fn segment_size(self) -> usize {
        match self {
            Kind::Mpmc => mpmc::size_for(MPMC_CAP, MPMC_MSG),
            _ => 4096,
        }
    }

    /// Lays the structure out (the channels) in `region` at its place.
    fn lay_out_channel(self, region: &Region) -> shmkit::Result<()> {
        match self {
            Kind::Spsc => spsc::create_in(region, 0, SPSC_CAP),
            Kind::Mpmc => mpmc::create_in(region, 0, MPMC_CAP, MPMC_MSG),
            Kind::PubSub => pubsub::create_in(region, 0, PS_SLOTS, PS_SLOT_SIZE),
            Kind::Named => spsc::create_in(region, NAMED_CHANNEL, SPSC_CAP),
            _ => Ok(()),
        }
    }

    /// Creates the structure in a new segment; returns the segment's guard and, for a
    /// named channel, its name.
    fn create(self) -> (shmkit::RemoveOnDrop<Segment>, Option<String>) {
        if self == Kind::Named {
            let name = format!("soak-{}-{:016x}", std::process::id(), common::random_u64());
            let channel = NamedChannel::builder(&name)
                .spsc(SPSC_CAP)
                .create()
                .expect("creating the named channel");
            return (channel.segment().clone().remove_on_drop(), Some(name));
        }
        let seg = common::private_segment(self.segment_size());
        let map = seg.attach().unwrap();
        let region = map.region();
        match self {
            Kind::Mutex => drop(RobustMutex::<Value, _>::create_in(region, 0, [0; 3]).unwrap()),
            Kind::Condvar => {
                RobustMutex::<Value, _>::create_in(region, CV_MUTEX_AT, [0; 3]).unwrap();
                Condvar::create_in(region, CV_AT).unwrap();
                Event::create_in(region, EVENT_AT).unwrap();
            }
            Kind::SeqLock => drop(SeqLock::create_in(region, 0, [0u64; 8]).unwrap()),
            _ => self.lay_out_channel(region).unwrap(),
        }
        (seg, None)
    }
}

/// A word of a layout: where it is, its size (4 or 8), and values that mean something for
/// it (on top of the values every word gets).
struct Word {
    name: String,
    at: usize,
    size: usize,
    related: Vec<u64>,
}

fn word(out: &mut Vec<Word>, name: impl Into<String>, at: usize, size: usize, related: Vec<u64>) {
    out.push(Word {
        name: name.into(),
        at,
        size,
        related,
    });
}

fn load(region: &Region, at: usize, size: usize) -> u64 {
    if size == 8 {
        region.load_u64(at, Ordering::Acquire).unwrap()
    } else {
        u64::from(region.load_u32(at, Ordering::Acquire).unwrap())
    }
}

fn store(region: &Region, at: usize, size: usize, v: u64) {
    if size == 8 {
        region.atomic_u64(at).unwrap().store(v, Ordering::SeqCst)
    } else {
        region
            .atomic_u32(at)
            .unwrap()
            .store(v as u32, Ordering::SeqCst)
    }
}

/// Puts `old` back if the word still holds `v`.
fn restore(region: &Region, at: usize, size: usize, v: u64, old: u64) {
    if size == 8 {
        let _ = region.atomic_u64(at).unwrap().compare_exchange(
            v,
            old,
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
    } else {
        let _ = region.atomic_u32(at).unwrap().compare_exchange(
            v as u32,
            old as u32,
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
    }
}

/// The 64-byte header of `sync::header`, at `base`.
fn header_words(out: &mut Vec<Word>, region: &Region, base: usize, what: &str) {
    let total = load(region, base + 20, 4);
    let payload = load(region, base + 24, 4);
    let magic = load(region, base, 8);
    let fields: [(&str, usize, usize, Vec<u64>); 12] = [
        ("magic", 0, 8, vec![magic ^ 1, magic.swap_bytes()]),
        ("version", 8, 4, vec![]),
        ("init state", 12, 4, vec![]),
        ("header size", 16, 4, vec![]),
        (
            "total size",
            20,
            4,
            vec![total + 64, total.wrapping_sub(64), total * 2],
        ),
        ("payload size", 24, 4, vec![payload + 8, payload * 2]),
        ("payload align", 28, 4, vec![]),
        ("pid namespace", 32, 8, vec![]),
        ("creator pid", 40, 4, vec![]),
        ("pthread size", 44, 4, vec![40, 48]),
        ("reserved 48", 48, 8, vec![]),
        ("reserved 56", 56, 8, vec![]),
    ];
    for (name, at, size, related) in fields {
        word(
            out,
            format!("{what} header {name}"),
            base + at,
            size,
            related,
        );
    }
}

/// The `pthread_mutex_t` words (glibc, x86-64) at `base`.
fn pthread_words(out: &mut Vec<Word>, region: &Region, base: usize, what: &str) {
    const OWNER_DIED: u64 = 0x4000_0000;
    const WAITERS: u64 = 0x8000_0000;
    let kind = load(region, base + 16, 4);
    let list = region.as_ptr() as u64 + base as u64 + 24; // our own address of it
    let fields: [(&str, usize, usize, Vec<u64>); 8] = [
        (
            "__lock",
            0,
            4,
            vec![OWNER_DIED, WAITERS, OWNER_DIED | WAITERS],
        ),
        ("__count", 4, 4, vec![]),
        ("__owner", 8, 4, vec![0x7fff_ffff, 0x7fff_fffe]),
        ("__nusers", 12, 4, vec![]),
        (
            "__kind",
            16,
            4,
            vec![
                kind,
                0,
                1,
                2,
                3,
                0x10,
                0x11,
                0x12,
                0x13,
                0x20,
                0x22,
                0x30,
                0x32,
                0x40,
                0x42,
                0x50,
                0x52,
                0x80,
                0x82,
                0x90,
                0x92,
                0xa2,
                0xb2,
                0xc2,
                0xd2,
                0x100,
                0x112,
                0x192,
                kind & !0x10,
                kind | 0x20,
                kind | 0x40,
            ],
        ),
        ("__spins/__elision", 20, 4, vec![0x0001_0000, 0x0003_0000]),
        (
            "__list.__prev",
            24,
            8,
            vec![list, list | 1, list - 24, 0x1000],
        ),
        (
            "__list.__next",
            32,
            8,
            vec![list, list | 1, list - 24, 0x1000],
        ),
    ];
    for (name, at, size, related) in fields {
        word(out, format!("{what} {name}"), base + at, size, related);
    }
}

/// The SPSC channel's words at `base`, with values relative to its current indices.
fn spsc_words(out: &mut Vec<Word>, region: &Region, base: usize) {
    const RING: usize = 256;
    const TAG_MSG: u64 = 0x4d53_4721 << 32;
    const TAG_PAD: u64 = 0x5041_4421 << 32;
    let cap = SPSC_CAP as u64;
    let max = spsc::max_message(SPSC_CAP) as u64;
    header_words(out, region, base, "spsc");
    let tail = load(region, base + 64, 8);
    let head = load(region, base + 128, 8);
    word(
        out,
        "spsc tail",
        base + 64,
        8,
        [
            head,
            head.wrapping_add(cap),
            head.wrapping_add(cap + 16),
            head.wrapping_add(16),
            1 << 62,
            (1 << 62) + 16,
        ]
        .to_vec(),
    );
    word(
        out,
        "spsc head",
        base + 128,
        8,
        [
            tail,
            tail.wrapping_add(16),
            tail.wrapping_sub(cap),
            tail.wrapping_sub(cap + 16),
            1 << 62,
        ]
        .to_vec(),
    );
    word(out, "spsc sender pid", base + 192, 4, vec![]);
    word(out, "spsc receiver pid", base + 196, 4, vec![]);
    word(out, "spsc wake", base + 200, 4, vec![]);
    word(out, "spsc parked", base + 204, 4, vec![]);
    let kinds = |at: u64| {
        let room = cap - (at % cap); // 16 to cap
        vec![
            TAG_MSG,
            TAG_MSG | 12,
            TAG_MSG | max,
            TAG_MSG | (max + 1),
            TAG_MSG | (room - 16),
            TAG_MSG | room,
            TAG_MSG | 0xffff_ffff,
            TAG_PAD,
            TAG_PAD | 16,
            (0x1234 << 32) | 4,
        ]
    };
    for (what, at) in [("head", head), ("tail", tail), ("ring start", 0)] {
        let slot = base + RING + (at % cap) as usize / 16 * 16;
        word(
            out,
            format!("spsc stamp at {what}"),
            slot,
            8,
            [1, 0, 2, 1 + cap]
                .map(|d| at.wrapping_add(d))
                .into_iter()
                .chain([tail.wrapping_add(1), head.wrapping_add(1)])
                .collect(),
        );
        word(
            out,
            format!("spsc length-and-tag at {what}"),
            slot + 8,
            8,
            kinds(at),
        );
    }
}

fn mpmc_words(out: &mut Vec<Word>, region: &Region) {
    const SLOTS: usize = 256 + 64 * 64;
    let stride = mpmc::size_for(2, MPMC_MSG).saturating_sub(mpmc::size_for(1, MPMC_MSG));
    let cap = MPMC_CAP as u64;
    header_words(out, region, 0, "mpmc");
    let enq = load(region, 64, 8);
    let deq = load(region, 128, 8);
    word(
        out,
        "mpmc enqueue",
        64,
        8,
        [
            deq,
            deq.wrapping_add(cap),
            deq.wrapping_add(cap + 1),
            1 << 59,
            1 << 60,
            (1 << 60) + 1,
        ]
        .to_vec(),
    );
    word(
        out,
        "mpmc dequeue",
        128,
        8,
        [
            enq,
            enq.wrapping_add(1),
            enq.wrapping_sub(cap),
            1 << 59,
            1 << 60,
        ]
        .to_vec(),
    );
    word(out, "mpmc wake", 192, 4, vec![]);
    word(out, "mpmc parked", 196, 4, vec![]);
    let pid = u64::from(std::process::id());
    // The victims register in the first entries; the last one too.
    for i in [0usize, 1, 2, 63] {
        let at = 256 + 64 * i;
        word(
            out,
            format!("mpmc handle {i} who"),
            at,
            8,
            vec![
                1 << 32,
                2 << 32,
                3 << 32,
                (1 << 32) | pid,
                (2 << 32) | pid,
                (1 << 32) | 1,
                (2 << 32) | 1,
            ],
        );
        word(
            out,
            format!("mpmc handle {i} intent"),
            at + 8,
            8,
            [enq, enq.wrapping_add(1), deq, deq.wrapping_add(1)].to_vec(),
        );
    }
    // Slots 0, 1 and the last, and the slots of the next positions to consume and to
    // produce, with sequence words around the positions they carry next.
    let slots = [("0", 0), ("1", 1), ("last", cap - 1)]
        .map(|(what, i)| (what.to_owned(), i))
        .into_iter()
        .chain([
            ("at dequeue".to_owned(), deq % cap),
            ("at enqueue".to_owned(), enq % cap),
        ]);
    for (what, i) in slots {
        // The position this slot carries next: the first at or after `dequeue`.
        let p = deq.wrapping_add(i.wrapping_sub(deq) % cap);
        let at = SLOTS + i as usize * stride;
        let seqs = [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (cap, 0),
            (cap, 1),
            (2 * cap, 0),
        ]
        .map(|(ahead, skip)| p.wrapping_add(ahead).wrapping_mul(2).wrapping_add(skip));
        let mut related = seqs.to_vec();
        related.push(p.wrapping_sub(cap).wrapping_mul(2));
        word(out, format!("mpmc slot {what} sequence"), at, 8, related);
        word(
            out,
            format!("mpmc slot {what} length"),
            at + 8,
            4,
            vec![MPMC_MSG as u64, MPMC_MSG as u64 + 1, 64],
        );
    }
}

fn pubsub_words(out: &mut Vec<Word>, region: &Region) {
    let stride = pubsub::size_for(2, PS_SLOT_SIZE) - pubsub::size_for(1, PS_SLOT_SIZE);
    let slots = PS_SLOTS as u64;
    header_words(out, region, 0, "pubsub");
    let head = load(region, 128, 8);
    word(
        out,
        "pubsub slots",
        64,
        4,
        vec![4, 16, 7, 9, 1 << 24, 1 << 25],
    );
    word(out, "pubsub policy", 68, 4, vec![]);
    word(out, "pubsub publisher pid", 72, 4, vec![]);
    word(
        out,
        "pubsub head",
        128,
        8,
        [
            head.wrapping_add(slots),
            head.wrapping_add(slots + 1),
            head.wrapping_sub(slots),
            1 << 62,
            (1 << 62) + 1,
        ]
        .to_vec(),
    );
    word(out, "pubsub wake", 192, 4, vec![]);
    word(out, "pubsub parked", 200, 8, vec![1 << 63, 0xff]);
    for i in [0usize, 1, 2, 63] {
        word(
            out,
            format!("pubsub subscriber {i} pid"),
            256 + 4 * i,
            4,
            vec![],
        );
    }
    // Slots 0, 1 and the last, the slot of the next message and of the last one.
    let picked = [("0", 0), ("1", 1), ("last", slots - 1)]
        .map(|(what, i)| (what.to_owned(), i))
        .into_iter()
        .chain([
            ("of the next message".to_owned(), head % slots),
            (
                "of the last message".to_owned(),
                head.wrapping_sub(1) % slots,
            ),
        ]);
    for (what, i) in picked {
        // The message this slot holds next: the first at or after head.
        let s = head.wrapping_add(i.wrapping_sub(head) % slots);
        let at = 512 + i as usize * stride;
        let mut related = [(0, 1), (0, 2), (0, 3), (slots, 1), (slots, 2)]
            .map(|(ahead, odd)| s.wrapping_add(ahead).wrapping_mul(2).wrapping_add(odd))
            .to_vec();
        related.extend([
            s.wrapping_sub(slots).wrapping_mul(2).wrapping_add(2),
            (1 << 63) + 2,
        ]);
        word(out, format!("pubsub slot {what} stamp"), at, 8, related);
        word(
            out,
            format!("pubsub slot {what} length"),
            at + 8,
            8,
            vec![PS_SLOT_SIZE as u64, PS_SLOT_SIZE as u64 + 1, 1 << 32],
        );
    }
}

fn named_words(out: &mut Vec<Word>, region: &Region) {
    header_words(out, region, 0, "name block");
    let hash = load(region, 64, 8);
    let len = load(region, 76, 4);
    let size = load(region, 80, 8);
    let room = (region.len() - NAMED_CHANNEL) as u64;
    word(
        out,
        "name block hash",
        64,
        8,
        vec![hash ^ 1, shmkit::channel::named::name_hash("other")],
    );
    word(out, "name block kind", 72, 4, vec![]);
    word(
        out,
        "name block name length",
        76,
        4,
        vec![len.wrapping_sub(1), len + 1, 160, 161],
    );
    word(
        out,
        "name block channel size",
        80,
        8,
        vec![size.wrapping_add(1), room, room + 1],
    );
    // The soak's names have 26 to 28 bytes: four words.
    for i in 0..4 {
        let w = load(region, 96 + 8 * i, 8);
        word(
            out,
            format!("name block name bytes {}", 8 * i),
            96 + 8 * i,
            8,
            vec![w ^ 0x20, w ^ 0x80, u64::from_ne_bytes(*b"other\0\0\0")],
        );
    }
    spsc_words(out, region, NAMED_CHANNEL);
}

fn mutex_words(out: &mut Vec<Word>, region: &Region) {
    header_words(out, region, 0, "mutex");
    pthread_words(out, region, 64, "mutex");
    for i in 0..3 {
        word(out, format!("mutex value {i}"), 104 + 8 * i, 8, vec![]);
    }
}

fn condvar_words(out: &mut Vec<Word>, region: &Region) {
    word(
        out,
        "condvar's mutex __lock",
        CV_MUTEX_AT + 64,
        4,
        vec![0x4000_0000, 0x8000_0000],
    );
    for (what, base) in [("condvar", CV_AT), ("event", EVENT_AT)] {
        header_words(out, region, base, what);
        let seq = load(region, base + 64, 4);
        word(
            out,
            format!("{what} seq"),
            base + 64,
            4,
            vec![seq.wrapping_add(2)],
        );
        word(out, format!("{what} waiters"), base + 68, 4, vec![]);
        word(out, format!("{what} padding 72"), base + 72, 8, vec![]);
        word(out, format!("{what} padding 120"), base + 120, 8, vec![]);
    }
}

fn seqlock_words(out: &mut Vec<Word>, region: &Region) {
    header_words(out, region, 0, "seqlock");
    pthread_words(out, region, 64, "seqlock writer");
    let seq = load(region, 128, 4);
    word(
        out,
        "seqlock seq",
        128,
        4,
        vec![seq | 1, seq.wrapping_add(2), 0xffff_fffe],
    );
    word(out, "seqlock padding 132", 132, 4, vec![]);
    for i in [0usize, 7] {
        word(out, format!("seqlock value {i}"), 136 + 8 * i, 8, vec![]);
    }
}

/// Every word of `kind`'s layout, with values relative to the structure's current state.
fn words(kind: Kind, region: &Region) -> Vec<Word> {
    let mut out = Vec::new();
    match kind {
        Kind::Spsc => spsc_words(&mut out, region, 0),
        Kind::Mpmc => mpmc_words(&mut out, region),
        Kind::PubSub => pubsub_words(&mut out, region),
        Kind::Named => named_words(&mut out, region),
        Kind::Mutex => mutex_words(&mut out, region),
        Kind::Condvar => condvar_words(&mut out, region),
        Kind::SeqLock => seqlock_words(&mut out, region),
    }
    out
}

/// The pids and tids the scribbler writes where pids go.
struct Pids {
    all: Vec<u64>,
}

impl Pids {
    fn gather(board: &Board, victims: usize) -> Pids {
        let mut all = vec![
            u64::from(std::process::id()),
            u64::from(gettid()),
            1,
            4242,
            u64::from(dead_pid()),
        ];
        for i in 0..victims {
            all.push(board.get(FIRST_VICTIM + i, PID));
            all.push(board.get(FIRST_VICTIM + i, TID));
        }
        Pids { all }
    }
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("running true");
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// The values the scribbler writes into a word that holds `cur`.
fn hostile_values(w: &Word, cur: u64, pids: &Pids) -> Vec<u64> {
    let mut v: Vec<u64> = vec![
        0,
        1,
        2,
        3,
        7,
        8,
        15,
        16,
        63,
        64,
        255,
        4096,
        0x4000_0000,
        0x7fff_fffe,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_fffe,
        0xffff_ffff,
        1 << 32,
        (1 << 32) + 1,
        1 << 59,
        (1 << 60) - 1,
        1 << 60,
        (1 << 60) + 1,
        1 << 62,
        (1 << 62) + 1,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ];
    v.extend([
        cur.wrapping_add(1),
        cur.wrapping_sub(1),
        cur.wrapping_add(16),
        cur.wrapping_sub(16),
        cur ^ 1,
        cur << 1,
        !cur,
        cur | 0x8000_0000,
    ]);
    v.extend_from_slice(&pids.all);
    if w.name.ends_with("__lock") || w.name.ends_with("__owner") {
        // Thread ids with the robust futex bits: FUTEX_OWNER_DIED, FUTEX_WAITERS.
        for &p in &pids.all {
            v.extend([p | 0x4000_0000, p | 0x8000_0000]);
        }
    }
    v.extend_from_slice(&w.related);
    let mut seen = std::collections::HashSet::new();
    v.into_iter()
        .map(|x| if w.size == 4 { x & 0xffff_ffff } else { x })
        .filter(|&x| x != cur && seen.insert(x))
        .collect()
}

// ----------------------------------------------------------------------------------------
// The scribbler.

/// Rebuilds the structure as a peer could: a channel is laid out anew (zeroed, then
/// `create_in`); a sync structure gets its header, state and lock words (not `__list`) back
/// from `snapshot`, and its futex words a wake-up.
fn rebuild(kind: Kind, region: &Region, snapshot: &[u8]) {
    restore_sync(kind, region, snapshot, kind.restore_ranges());
}

/// The watchdog's rescue of a victim stuck in an untimed wait after the scribbler stopped
/// (see `Kind::rescue_ranges`).
fn rescue(kind: Kind, region: &Region, snapshot: &[u8]) {
    restore_sync(kind, region, snapshot, kind.rescue_ranges());
}

fn restore_sync(kind: Kind, region: &Region, snapshot: &[u8], ranges: &[(usize, usize)]) {
    match kind {
        Kind::Spsc | Kind::Mpmc | Kind::PubSub => {
            let (start, end) = kind.extent();
            region.fill(start, end - start, 0).unwrap();
            let _ = kind.lay_out_channel(region);
        }
        Kind::Named => {
            region.write_at(0, &snapshot[..NAMED_CHANNEL]).unwrap();
            let (_, end) = kind.extent();
            region.fill(NAMED_CHANNEL, end - NAMED_CHANNEL, 0).unwrap();
            let _ = kind.lay_out_channel(region);
        }
        Kind::Mutex | Kind::Condvar | Kind::SeqLock => {
            for &(start, end) in ranges {
                region.write_at(start, &snapshot[start..end]).unwrap();
            }
            let (locks, seqs) = kind.futex_words();
            for &at in seqs {
                region
                    .atomic_u32(at)
                    .unwrap()
                    .fetch_add(1, Ordering::SeqCst);
                futex_wake_all(region.atomic_u32(at).unwrap());
            }
            for &at in locks {
                futex_wake_all(region.atomic_u32(at).unwrap());
            }
        }
    }
}

/// The victims' operation counts now.
fn counts(board: &Board, victims: usize) -> Vec<u64> {
    (0..victims)
        .map(|i| board.get(FIRST_VICTIM + i, OPS))
        .collect()
}

/// Whether victim `i` is gone (exited or killed) or inside a call that waits without a
/// timeout (which a hostile value may legitimately keep waiting).
fn excused(board: &Board, i: usize) -> bool {
    let slot = FIRST_VICTIM + i;
    board.get(slot, GONE) != 0
        || (board.get(slot, START) != 0 && board.get(slot, TIMEOUT) == UNTIMED)
}

/// After a write: waits (yielding, never sleeping) until every victim that is still
/// there completed `n` calls more than `base` (`n = 2`: one whole call made with the
/// value in place), or is in an untimed wait. Gives up after `limit`; false then.
fn settle(board: &Board, base: &[u64], n: u64, limit: Duration) -> bool {
    let t0 = Instant::now();
    loop {
        let now = counts(board, base.len());
        if (0..base.len()).all(|i| now[i] >= base[i] + n || excused(board, i)) {
            return true;
        }
        if t0.elapsed() > limit || board.stopped() {
            return false;
        }
        std::thread::yield_now();
    }
}

/// After a write: waits until the victims together completed `n` more calls.
fn progress(board: &Board, base: &[u64], n: u64) -> bool {
    let t0 = Instant::now();
    let limit = scaled(PROGRESS_WAIT);
    let start: u64 = base.iter().sum();
    loop {
        let now: u64 = counts(board, base.len()).iter().sum();
        if now >= start + n || (0..base.len()).all(|i| excused(board, i)) {
            return true;
        }
        if t0.elapsed() > limit || board.stopped() {
            return false;
        }
        std::thread::yield_now();
    }
}

fn scribbler_main(args: &[&str]) -> String {
    let kind = Kind::parse(args[0]);
    let map = attach_id(args[1]);
    let board = Board {
        map: attach_id(args[2]),
    };
    let mut rng = Rng(args[3].parse::<u64>().unwrap() | 1);
    let victims = kind.roles().len();
    let region = map.region();
    let snapshot = region.read_vec(0, region.len()).unwrap();
    let pids = Pids::gather(&board, victims);
    board.set(SCRIBBLER, PID, u64::from(std::process::id()));
    let valgrind = under_valgrind();
    let (mut table_writes, mut random_writes, mut stalls, mut rebuilds) = (0u64, 0u64, 0u64, 0u64);
    let mut fewest = usize::MAX;
    let mut words_done = 0usize;
    let (mut table_time, mut random_time) = (Duration::ZERO, Duration::ZERO);
    // Longer than two correct calls (a named open waits up to 2 s for a channel whose
    // state says "initialising"), and than the watchdog's timeout + BOUND.
    let longest = if kind == Kind::Named {
        2 * NAMED_READY_WAIT
    } else {
        TIMEOUTS[TIMEOUTS.len() - 1]
    };
    let settle_limit = scaled(2 * longest + BOUND + Duration::from_secs(1));
    'rounds: for _ in 0..rounds() {
        let phase = Instant::now();
        let count = words(kind, region).len();
        for i in 0..count {
            rebuild(kind, region, &snapshot);
            rebuilds += 1;
            // Let the victims use the rebuilt structure before the next word.
            if !progress(&board, &counts(&board, victims), 2) {
                stalls += 1;
            }
            let w = words(kind, region).swap_remove(i);
            let cur = load(region, w.at, w.size);
            let mut values = hostile_values(&w, cur, &pids);
            if valgrind {
                // A random sample, and always 0 and all ones.
                for j in 0..VALUES_PER_WORD_VALGRIND.min(values.len()) {
                    let k = j + rng.below(values.len() - j);
                    values.swap(j, k);
                }
                values.truncate(VALUES_PER_WORD_VALGRIND);
                let ones = if w.size == 4 { 0xffff_ffff } else { u64::MAX };
                for x in [0, ones] {
                    if x != cur && !values.contains(&x) {
                        values.push(x);
                    }
                }
            }
            fewest = fewest.min(values.len());
            for v in values {
                if board.stopped() {
                    break 'rounds;
                }
                let base = counts(&board, victims);
                board.note(&w.name, v);
                let old = load(region, w.at, w.size);
                store(region, w.at, w.size, v);
                table_writes += 1;
                // Every victim makes a whole call with the value in place (a call that
                // waits past its deadline keeps us here until the watchdog sees it);
                // sometimes several, so that the value also meets opening.
                let n = if rng.below(8) == 0 { 8 } else { 2 };
                if !settle(&board, &base, n, settle_limit) {
                    stalls += 1;
                }
                if rng.below(8) != 0 {
                    restore(region, w.at, w.size, v, old);
                }
            }
            words_done += 1;
        }
        table_time += phase.elapsed();
        let phase = Instant::now();
        let (start, end) = kind.extent();
        let writes = if valgrind {
            RANDOM_WRITES_VALGRIND
        } else {
            RANDOM_WRITES
        };
        for j in 0..writes {
            if board.stopped() {
                break 'rounds;
            }
            if j % 64 == 0 {
                rebuild(kind, region, &snapshot);
                rebuilds += 1;
            }
            let r = rng.next();
            let len = [8, 4, 1 + rng.below(8)][rng.below(3)];
            let mut at = start + rng.below(end - start - 8);
            match rng.below(3) {
                0 => at &= !7,
                1 => at &= !3,
                _ => {} // unaligned
            }
            let bytes = if r & 1 == 0 {
                r.to_ne_bytes()
            } else {
                // Small numbers pass more checks than wild ones.
                ((r >> 8) % 4096).to_ne_bytes()
            };
            let base = counts(&board, victims);
            board.note(&format!("{len} random bytes at {at}"), r);
            let old = region.read_vec(at, len).unwrap();
            region.write_at(at, &bytes[..len]).unwrap();
            random_writes += 1;
            let settled = if j % 32 == 0 {
                settle(&board, &base, 2, settle_limit)
            } else {
                progress(&board, &base, 1)
            };
            if !settled {
                stalls += 1;
            }
            if rng.below(2) == 0 {
                region.write_at(at, &old).unwrap();
            }
        }
        random_time += phase.elapsed();
    }
    format!(
        "words={words_done} table_writes={table_writes} fewest_values={fewest} random_writes={random_writes} rebuilds={rebuilds} stalls={stalls} table_ms={} random_ms={}",
        table_time.as_millis(),
        random_time.as_millis()
    )
}

// ----------------------------------------------------------------------------------------
// The victims.

/// One victim's record of its calls.
struct Victim {
    board: Board,
    slot: usize,
    rng: Rng,
    bound: Duration,
    ops: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    panics: Vec<String>,
    late: Vec<String>,
    /// The call that returned furthest past its timeout (or past 0 for calls that do not
    /// wait): by how much, and which.
    worst: (Duration, String),
    /// The longest call that waits without a timeout.
    untimed: (Duration, String),
    /// The last call's error, if it failed.
    last: Option<ErrorKind>,
}

impl Victim {
    fn stopped(&self) -> bool {
        self.board.stopped()
    }

    fn timeout(&mut self) -> Duration {
        TIMEOUTS[self.rng.below(TIMEOUTS.len())]
    }

    fn wait_mode(&mut self) -> Wait {
        [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 64 }][self.rng.below(3)]
    }

    /// Runs one call: `timeout` is its timeout, `Some(ZERO)` for a call that does not wait,
    /// `None` for one that waits without a timeout. Records how long it took and how it
    /// ended; returns its value if it succeeded.
    fn call<T>(
        &mut self,
        op: &str,
        timeout: Option<Duration>,
        f: impl FnOnce() -> Result<T, ErrorKind>,
    ) -> Option<T> {
        self.board.begin(self.slot, op, timeout);
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(f));
        let took = start.elapsed();
        self.board.end(self.slot);
        self.ops += 1;
        match timeout {
            Some(t) => {
                let over = took.saturating_sub(t);
                if over >= self.worst.0 {
                    self.worst = (over, op.to_owned());
                }
                if over > self.bound {
                    self.late
                        .push(format!("{op} took {took:?} with a timeout of {t:?}"));
                }
            }
            None => {
                if took >= self.untimed.0 {
                    self.untimed = (took, op.to_owned());
                }
            }
        }
        self.last = None;
        match result {
            Ok(Ok(v)) => {
                self.ok += 1;
                Some(v)
            }
            Ok(Err(kind)) => {
                self.last = Some(kind);
                *self.errors.entry(format!("{kind:?}")).or_default() += 1;
                None
            }
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                self.panics.push(format!("{op}: {msg}"));
                None
            }
        }
    }

    /// Whether the endpoint should be opened again after the last call: it failed with
    /// something other than "nothing now" or "not in time".
    fn reopen(&self) -> bool {
        !matches!(
            self.last,
            None | Some(ErrorKind::WouldBlock | ErrorKind::TimedOut)
        )
    }

    fn report(&self, role: &str) -> String {
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect();
        format!(
            "role={role} ops={} ok={} panics={} late={} worst_over_us={} worst_op={:?} untimed_max_ms={} untimed_op={:?} errors={} first_panic={:?} first_late={:?}",
            self.ops,
            self.ok,
            self.panics.len(),
            self.late.len(),
            self.worst.0.as_micros(),
            self.worst.1,
            self.untimed.0.as_millis(),
            self.untimed.1,
            errors.join(","),
            self.panics.first().map(String::as_str).unwrap_or(""),
            self.late.first().map(String::as_str).unwrap_or(""),
        )
    }
}

const ZERO: Option<Duration> = Some(Duration::ZERO);
/// How many calls an endpoint makes before it is opened again.
const REOPEN_EVERY: u64 = 32;

fn kind_of(e: shmkit::Error) -> ErrorKind {
    e.kind()
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

fn spsc_sender<R: std::ops::Deref<Target = Region>>(
    v: &mut Victim,
    open_timeout: Duration,
    open: &dyn Fn() -> shmkit::Result<Sender<R>>,
) {
    let max = spsc::max_message(SPSC_CAP);
    let msgs: Vec<Vec<u8>> = [0, 1, 12, 100, max, max + 1].map(payload).to_vec();
    let mut tx: Option<Sender<R>> = None;
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let Some(s) = tx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
            drop(tx.take());
            tx = v.call("Sender::open_in", Some(open_timeout), || {
                open().map_err(kind_of)
            });
            continue;
        };
        let msg = &msgs[v.rng.below(msgs.len())];
        let t = v.timeout();
        match v.rng.below(4) {
            0 => v.call("Sender::try_send", ZERO, || {
                s.try_send(msg).map_err(|e| e.into_error().kind())
            }),
            1 => v.call("Sender::send_timeout", Some(t), || {
                s.send_timeout(msg, t).map_err(kind_of)
            }),
            2 => v.call("Sender::loan_timeout+commit", Some(t), || {
                let loan = s.loan_timeout(msg.len(), Some(t)).map_err(kind_of)?;
                loan.write_at(0, msg).map_err(kind_of)?;
                loan.commit();
                Ok(())
            }),
            _ => v
                .call("Sender::receiver_alive", ZERO, || Ok(s.receiver_alive()))
                .map(drop),
        };
        if v.reopen() {
            tx = None;
        }
    }
}

fn spsc_receiver<R: std::ops::Deref<Target = Region>>(
    v: &mut Victim,
    open_timeout: Duration,
    open: &dyn Fn() -> shmkit::Result<Receiver<R>>,
) {
    let mut rx: Option<Receiver<R>> = None;
    let mut buf = Vec::new();
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let Some(r) = rx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
            drop(rx.take());
            rx = v.call("Receiver::open_in", Some(open_timeout), || {
                open().map_err(kind_of)
            });
            continue;
        };
        let t = v.timeout();
        let mode = v.wait_mode();
        r.set_wait(mode);
        match v.rng.below(4) {
            0 => v
                .call("Receiver::try_recv_ref", ZERO, || {
                    match r.try_recv_ref().map_err(kind_of)? {
                        Some(m) => m.to_vec().map(|m| m.len()).map_err(kind_of),
                        None => Ok(0),
                    }
                })
                .map(drop),
            1 => v
                .call("Receiver::recv_ref_timeout", Some(t), || {
                    let m = r.recv_ref_timeout(t).map_err(kind_of)?;
                    m.to_vec().map(|m| m.len()).map_err(kind_of)
                })
                .map(drop),
            2 => v
                .call("Receiver::recv_timeout", Some(t), || {
                    r.recv_timeout(&mut buf, t).map_err(kind_of)
                })
                .map(drop),
            _ => v
                .call("Receiver::sender_alive", ZERO, || Ok(r.sender_alive()))
                .map(drop),
        };
        if v.reopen() {
            rx = None;
        }
    }
}

fn mpmc_victim(v: &mut Victim, region: &Region, produce: bool, consume: bool) {
    let mut tx: Option<Producer<&Region>> = None;
    let mut rx: Option<Consumer<&Region>> = None;
    let msgs: Vec<Vec<u8>> = [0, 1, 8, MPMC_MSG, MPMC_MSG + 1].map(payload).to_vec();
    let mut buf = [0u8; MPMC_MSG];
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let producing = produce && (!consume || v.rng.below(2) == 0);
        if producing {
            let Some(p) = tx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
                drop(tx.take());
                tx = v.call("Producer::open_in", ZERO, || {
                    Producer::open_in(region, 0).map_err(kind_of)
                });
                continue;
            };
            let msg = &msgs[v.rng.below(msgs.len())];
            let t = v.timeout();
            match v.rng.below(5) {
                0 => v.call("Producer::try_send", ZERO, || {
                    p.try_send(msg).map_err(|e| e.into_error().kind())
                }),
                1 => v.call("Producer::send_timeout", Some(t), || {
                    p.send_timeout(msg, t).map_err(|e| e.into_error().kind())
                }),
                2 => v.call("Producer::loan+commit", ZERO, || {
                    let loan = p.loan(msg.len()).map_err(kind_of)?;
                    loan.write_at(0, msg).map_err(kind_of)?;
                    loan.commit().map_err(kind_of)
                }),
                3 => v.call("Producer::loan+drop", ZERO, || {
                    p.loan(msg.len()).map(drop).map_err(kind_of)
                }),
                _ => v
                    .call(
                        "Producer::consumers_alive",
                        ZERO,
                        || Ok(p.consumers_alive()),
                    )
                    .map(drop),
            };
            if v.reopen() {
                tx = None;
            }
        } else {
            let Some(c) = rx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
                drop(rx.take());
                rx = v.call("Consumer::open_in", ZERO, || {
                    Consumer::open_in(region, 0).map_err(kind_of)
                });
                continue;
            };
            let t = v.timeout();
            let mode = v.wait_mode();
            c.set_wait(mode);
            match v.rng.below(4) {
                0 => v
                    .call("Consumer::try_recv", ZERO, || {
                        c.try_recv(&mut buf).map_err(kind_of)
                    })
                    .map(drop),
                1 => v
                    .call("Consumer::recv_timeout", Some(t), || {
                        c.recv_timeout(&mut buf, t).map_err(kind_of)
                    })
                    .map(drop),
                2 => v
                    .call("Consumer::recv_ref_timeout+finish", Some(t), || {
                        let m = c.recv_ref_timeout(t).map_err(kind_of)?;
                        let bytes = m.to_vec().map_err(kind_of)?;
                        m.finish().map_err(kind_of)?;
                        Ok(bytes.len())
                    })
                    .map(drop),
                _ => v
                    .call(
                        "Consumer::producers_alive",
                        ZERO,
                        || Ok(c.producers_alive()),
                    )
                    .map(drop),
            };
            if v.reopen() {
                rx = None;
            }
        }
    }
}

fn pubsub_publisher(v: &mut Victim, region: &Region) {
    let msgs: Vec<Vec<u8>> = [0, 1, 8, PS_SLOT_SIZE, PS_SLOT_SIZE + 1]
        .map(payload)
        .to_vec();
    let mut tx: Option<Publisher<&Region>> = None;
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let Some(p) = tx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
            drop(tx.take());
            tx = v.call("Publisher::open_in", ZERO, || {
                Publisher::open_in(region, 0).map_err(kind_of)
            });
            continue;
        };
        let msg = &msgs[v.rng.below(msgs.len())];
        match v.rng.below(3) {
            0 => v
                .call("Publisher::publish", ZERO, || {
                    p.publish(msg).map_err(kind_of)
                })
                .map(drop),
            1 => v
                .call("Publisher::loan+commit", ZERO, || {
                    let loan = p.loan(msg.len()).map_err(kind_of)?;
                    loan.write_at(0, msg).map_err(kind_of)?;
                    Ok(loan.commit())
                })
                .map(drop),
            _ => v
                .call("Publisher::parked", ZERO, || Ok(p.parked()))
                .map(drop),
        };
        if v.reopen() {
            tx = None;
        }
    }
}

fn pubsub_subscriber<A: shmkit::Access>(v: &mut Victim, region: &Region<A>) {
    let mut rx: Option<Subscriber<&Region<A>, A>> = None;
    let mut buf = Vec::new();
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let Some(s) = rx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
            drop(rx.take());
            let k = v.rng.below(12) as u64;
            rx = v.call("Subscriber::open_last", ZERO, || {
                Subscriber::open_last(region, 0, k).map_err(kind_of)
            });
            continue;
        };
        let t = v.timeout();
        let mode = v.wait_mode();
        // A read-only subscriber of a Wakeups::Parked channel can only poll: asking for
        // more is an Unsupported error, asked for now and then.
        let mode = if A::WRITABLE || v.rng.below(16) == 0 {
            mode
        } else {
            Wait::Poll
        };
        v.call("Subscriber::set_wait", ZERO, || {
            s.set_wait(mode).map_err(kind_of)
        });
        match v.rng.below(4) {
            0 => v
                .call("Subscriber::try_recv", ZERO, || {
                    s.try_recv(&mut buf).map_err(kind_of)
                })
                .map(drop),
            1 => v
                .call("Subscriber::recv_timeout", Some(t), || {
                    s.recv_timeout(&mut buf, t).map_err(kind_of)
                })
                .map(drop),
            2 => v
                .call("Subscriber::recv_ref_timeout+copy_into", Some(t), || {
                    let m = s.recv_ref_timeout(t).map_err(kind_of)?;
                    let mut first = [0u8; 1];
                    let _ = m.read_at(0, &mut first);
                    m.copy_into(&mut buf).map_err(kind_of)
                })
                .map(drop),
            _ => v
                .call("Subscriber::publisher_alive", ZERO, || {
                    Ok(s.publisher_alive())
                })
                .map(drop),
        };
        if v.reopen() {
            rx = None;
        }
    }
}

/// A lock call's outcome as a value: the guard (consistent or not).
fn guard<'a, T: shmkit::sync::ShmSafe, R: std::ops::Deref<Target = Region>>(
    r: Result<MutexGuard<'a, T, R>, LockError<'a, T, R>>,
) -> Result<MutexGuard<'a, T, R>, ErrorKind> {
    match r {
        Ok(g) => Ok(g),
        Err(LockError::OwnerDied(g)) => Ok(g),
        Err(LockError::Failed(e)) => Err(e.kind()),
    }
}

/// Uses a guard: marks it consistent if the owner died, touches the value, unlocks.
fn use_guard<R: std::ops::Deref<Target = Region>>(v: &mut Victim, g: MutexGuard<'_, Value, R>) {
    let mut g = g;
    if !g.is_consistent() {
        v.call("MutexGuard::mark_consistent", ZERO, || {
            g.mark_consistent().map_err(kind_of)
        });
    }
    g[2] = g[2].wrapping_add(1);
    v.call("MutexGuard::unlock", ZERO, move || {
        g.unlock().map_err(kind_of)
    });
}

fn mutex_victim(v: &mut Victim, region: &Region) {
    let mut n = 0u64;
    let mut m: Option<RobustMutex<Value, &Region>> = None;
    while !v.stopped() {
        n += 1;
        let Some(mx) = m.as_ref().filter(|_| n % REOPEN_EVERY != 0) else {
            m = v.call("RobustMutex::open_in", ZERO, || {
                RobustMutex::open_in(region, 0).map_err(kind_of)
            });
            continue;
        };
        let t = v.timeout();
        {
            let locked = match v.rng.below(3) {
                0 => v.call("RobustMutex::lock_timeout", Some(t), || {
                    guard(mx.lock_timeout(t))
                }),
                1 => v.call("RobustMutex::try_lock", ZERO, || guard(mx.try_lock())),
                _ => v.call("RobustMutex::lock", None, || guard(mx.lock())),
            };
            if let Some(g) = locked {
                use_guard(v, g);
            }
        }
        if v.reopen() && v.last != Some(ErrorKind::Busy) {
            m = None;
        }
    }
}

fn condvar_victim(v: &mut Victim, region: &Region) {
    let mut n = 0u64;
    type Opened<'a> = (
        RobustMutex<Value, &'a Region>,
        Condvar<&'a Region>,
        Event<&'a Region>,
    );
    let mut s: Option<Opened<'_>> = None;
    while !v.stopped() {
        n += 1;
        let Some((mx, cv, ev)) = s.as_ref().filter(|_| n % REOPEN_EVERY != 0) else {
            s = v.call("Condvar/Event::open_in", ZERO, || {
                Ok((
                    RobustMutex::open_in(region, CV_MUTEX_AT).map_err(kind_of)?,
                    Condvar::open_in(region, CV_AT).map_err(kind_of)?,
                    Event::open_in(region, EVENT_AT).map_err(kind_of)?,
                ))
            });
            continue;
        };
        let t = v.timeout();
        // Untimed waits are rare: the other victim's notifications (and the scribbler's
        // wake-ups) end them, and meanwhile they make no calls.
        match v.rng.below(8) {
            0 | 1 => {
                let untimed = v.rng.below(16) == 0;
                let Some(g) = v.call("RobustMutex::lock_timeout", Some(t), || {
                    guard(mx.lock_timeout(t))
                }) else {
                    continue;
                };
                let g = if !g.is_consistent() {
                    let mut g = g;
                    v.call("MutexGuard::mark_consistent", ZERO, || {
                        g.mark_consistent().map_err(kind_of)
                    });
                    g
                } else {
                    g
                };
                let back = if untimed {
                    v.call("Condvar::wait", None, || guard(cv.wait(g)))
                } else {
                    // Sleeping and relocking share the timeout.
                    v.call("Condvar::wait_timeout", Some(t), || {
                        guard(cv.wait_timeout(g, t).map(|(g, _)| g))
                    })
                };
                if let Some(g) = back {
                    use_guard(v, g);
                }
            }
            2 => drop(v.call("Condvar::notify_one", ZERO, || {
                cv.notify_one().map_err(kind_of)
            })),
            3 => drop(v.call("Condvar::notify_all", ZERO, || {
                cv.notify_all().map_err(kind_of)
            })),
            4 => {
                let token = ev.listen();
                v.call("Event::wait_timeout", Some(t), || {
                    ev.wait_timeout(token, t).map_err(kind_of)
                });
            }
            5 if v.rng.below(16) == 0 => {
                let token = ev.listen();
                v.call("Event::wait", None, || ev.wait(token).map_err(kind_of));
            }
            6 => drop(v.call("Event::notify_one", ZERO, || {
                ev.notify_one().map_err(kind_of)
            })),
            _ => drop(v.call("Event::notify_all", ZERO, || {
                ev.notify_all().map_err(kind_of)
            })),
        }
        if v.reopen() && !matches!(v.last, Some(ErrorKind::Busy | ErrorKind::Deadlock)) {
            s = None;
        }
    }
}

fn seqlock_victim(v: &mut Victim, region: &Region, writer: bool) {
    let mut n = 0u64;
    let mut s: Option<SeqLock<SeqValue, &Region>> = None;
    while !v.stopped() {
        n += 1;
        let Some(l) = s.as_ref().filter(|_| n % REOPEN_EVERY != 0) else {
            s = v.call("SeqLock::open_in", ZERO, || {
                SeqLock::open_in(region, 0).map_err(kind_of)
            });
            continue;
        };
        let t = v.timeout();
        let value = [n; 8];
        // The writer mostly writes, the reader mostly reads; both do both.
        let pick = v.rng.below(10);
        let write = if writer { pick < 7 } else { pick < 2 };
        if write {
            match v.rng.below(2) {
                0 => v.call("SeqLock::write_timeout", Some(t), || {
                    l.write_timeout(&value, t).map_err(kind_of)
                }),
                _ => v.call("SeqLock::write", None, || l.write(&value).map_err(kind_of)),
            };
        } else {
            match v.rng.below(3) {
                0 => v.call("SeqLock::read_timeout", Some(t), || {
                    l.read_timeout(t).map_err(kind_of)
                }),
                1 => v.call("SeqLock::try_read", ZERO, || l.try_read().map_err(kind_of)),
                _ => v.call("SeqLock::read", None, || l.read().map_err(kind_of)),
            };
        }
        if v.reopen()
            && !matches!(
                v.last,
                Some(ErrorKind::WriterDied | ErrorKind::Deadlock | ErrorKind::Busy)
            )
        {
            s = None;
        }
    }
}

fn victim_main(args: &[&str]) -> String {
    Kind::parse(args[0]);
    let role = args[1];
    let seg_id = args[2];
    let board = Board {
        map: attach_id(args[3]),
    };
    let slot: usize = args[4].parse().unwrap();
    let seed = args[5].parse::<u64>().unwrap() | 1;
    let name = args.get(6).copied().unwrap_or("");
    board.set(slot, TID, u64::from(gettid()));
    board.set(slot, PID, u64::from(std::process::id()));
    let mut v = Victim {
        board,
        slot,
        rng: Rng(seed),
        bound: scaled(BOUND),
        ops: 0,
        ok: 0,
        errors: BTreeMap::new(),
        panics: Vec::new(),
        late: Vec::new(),
        worst: (Duration::ZERO, String::new()),
        untimed: (Duration::ZERO, String::new()),
        last: None,
    };
    let seg = Segment::from_id(ShmId::from_raw(seg_id.parse().unwrap())).unwrap();
    let map = seg.attach().unwrap();
    let region = map.region();
    match role {
        "spsc-sender" => spsc_sender(&mut v, Duration::ZERO, &|| Sender::open_in(region, 0)),
        "spsc-receiver" => spsc_receiver(&mut v, Duration::ZERO, &|| Receiver::open_in(region, 0)),
        "mpmc-producer" => mpmc_victim(&mut v, region, true, false),
        "mpmc-consumer" => mpmc_victim(&mut v, region, false, true),
        "mpmc-both" => mpmc_victim(&mut v, region, true, true),
        "pubsub-publisher" => pubsub_publisher(&mut v, region),
        "pubsub-subscriber" => pubsub_subscriber::<ReadWrite>(&mut v, region),
        "pubsub-read-only" => {
            let ro = seg.attach_read_only().unwrap();
            pubsub_subscriber::<ReadOnly>(&mut v, ro.region());
        }
        // Opening by name waits up to READY_WAIT for a channel being laid out: that is
        // its timeout (open_or_create may look twice: once in create, once after).
        "named-sender" => spsc_sender(&mut v, 2 * NAMED_READY_WAIT, &|| {
            NamedChannel::builder(name)
                .spsc(SPSC_CAP)
                .open_or_create()?
                .into_sender()
        }),
        "named-receiver" => spsc_receiver(&mut v, NAMED_READY_WAIT, &|| {
            NamedChannel::open(name)?.into_receiver()
        }),
        "mutex" => mutex_victim(&mut v, region),
        "condvar" => condvar_victim(&mut v, region),
        "seqlock-writer" => seqlock_victim(&mut v, region, true),
        "seqlock-reader" => seqlock_victim(&mut v, region, false),
        other => panic!("unknown role {other}"),
    }
    v.report(role)
}

/// The child process's entry: runs the role named by `$SHMKIT_SOAK`.
#[test]
#[ignore = "helper: run by the soak tests as a child process"]
fn soak_child() {
    let Ok(spec) = std::env::var("SHMKIT_SOAK") else {
        return;
    };
    let args: Vec<&str> = spec.split(' ').collect();
    let report = match args[0] {
        "scribble" => scribbler_main(&args[1..]),
        "victim" => victim_main(&args[1..]),
        other => panic!("unknown soak role {other}"),
    };
    println!("SOAK-REPORT {report}");
}

// ----------------------------------------------------------------------------------------
// The test's side: spawning, watching, judging.

struct Proc {
    what: String,
    child: Child,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
    status: Option<ExitStatus>,
    killed: Option<String>,
    /// What it was doing when it ended, and what the scribbler had written last.
    ended_in: Option<String>,
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = r.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn spawn(what: String, spec: String, valgrind: bool) -> Proc {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--tool=memcheck",
            "--error-exitcode=99",
            "--quiet",
            "--trace-children=no",
        ])
        .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args([
        "--ignored",
        "--exact",
        "soak_child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SHMKIT_SOAK", &spec)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {what} ({spec}): {e}"));
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    Proc {
        what,
        child,
        out: Some(out),
        err: Some(err),
        status: None,
        killed: None,
        ended_in: None,
    }
}

impl Proc {
    fn poll(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap();
        }
        self.status.is_some()
    }
    fn kill(&mut self, why: String) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = Some(self.child.wait().unwrap());
            self.killed = Some(why);
        }
    }
    /// Its report's fields, its stdout and its stderr.
    fn finish(&mut self) -> (BTreeMap<String, String>, String, String) {
        if self.status.is_none() {
            self.status = Some(self.child.wait().unwrap());
        }
        let out = self
            .out
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let err = self
            .err
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let fields = out
            .lines()
            .find_map(|l| l.split_once("SOAK-REPORT ").map(|(_, r)| r))
            .map(parse_report)
            .unwrap_or_default();
        (fields, out, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `key=value` pairs; a quoted value (`{:?}`) may hold spaces.
fn parse_report(line: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut rest = line.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut end = 0;
            let mut escaped = false;
            for (i, c) in quoted.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = i;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            (
                quoted[..end].to_owned(),
                &quoted[(end + 1).min(quoted.len())..],
            )
        } else {
            match after.split_once(' ') {
                Some((v, n)) => (v.to_owned(), n),
                None => (after.to_owned(), ""),
            }
        };
        fields.insert(key.trim().to_owned(), value);
        rest = next.trim_start();
    }
    fields
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (_, Some(sig)) => {
            // SAFETY: strsignal returns a pointer to a static or thread-local string.
            let name = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(sig)) };
            format!("killed by signal {sig} ({})", name.to_string_lossy())
        }
        (Some(99), _) => "exit 99: valgrind's memcheck reported errors".into(),
        (Some(code), _) => format!("exit status {code}"),
        _ => format!("{status:?}"),
    }
}

/// The soak tests run one at a time: each one's processes keep both cores busy.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn soak(kind: Kind) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let valgrind = under_valgrind();
    let t0 = Instant::now();
    let (seg, name) = kind.create();
    let map = seg.attach().unwrap();
    let region = map.region();
    let snapshot = region.read_vec(0, region.len()).unwrap();
    let names: Vec<String> = words(kind, region).into_iter().map(|w| w.name).collect();
    let table = names.len();
    let board_seg = common::private_segment(4096);
    let board = Board {
        map: board_seg.attach().unwrap(),
    };
    let roles = kind.roles();
    let mut failures: Vec<String> = Vec::new();

    let mut victims: Vec<Proc> = roles
        .iter()
        .enumerate()
        .map(|(i, role)| {
            let mut spec = format!(
                "victim {} {role} {} {} {} {}",
                kind.name(),
                seg.id(),
                board_seg.id(),
                FIRST_VICTIM + i,
                common::random_u64()
            );
            if let Some(name) = &name {
                spec.push(' ');
                spec.push_str(name);
            }
            spawn(format!("victim {i} ({role})"), spec, valgrind)
        })
        .collect();
    // The scribbler writes the victims' pids: wait until they are all up.
    let ready_by = Instant::now() + scaled(Duration::from_secs(20));
    while (0..roles.len()).any(|i| board.get(FIRST_VICTIM + i, PID) == 0) {
        if victims.iter_mut().any(Proc::poll) || Instant::now() > ready_by {
            break;
        }
        std::thread::yield_now();
    }
    let mut scribbler = spawn(
        "scribbler".into(),
        format!(
            "scribble {} {} {} {}",
            kind.name(),
            seg.id(),
            board_seg.id(),
            common::random_u64()
        ),
        false,
    );

    // Watch: calls in flight past their timeout plus the bound; the scribbler's end; then
    // the victims' end, waking untimed waits as a well-behaved peer would.
    let bound = scaled(BOUND);
    let mut stopped_at: Option<Instant> = None;
    let mut rescues = 0u64;
    let mut last_rescue = Instant::now();
    loop {
        for (i, p) in victims.iter_mut().enumerate() {
            if p.poll() {
                if p.ended_in.is_none() {
                    board.set(FIRST_VICTIM + i, GONE, 1);
                    let call = board
                        .in_flight(FIRST_VICTIM + i)
                        .map_or("between calls".into(), |(op, _, _)| format!("in {op}"));
                    p.ended_in = Some(format!(
                        "{call}; the scribbler's last write: {}",
                        board.noted()
                    ));
                }
                continue;
            }
            let Some((op, running, timeout)) = board.in_flight(FIRST_VICTIM + i) else {
                continue;
            };
            match timeout {
                Some(t) if running > t + bound => {
                    let why = format!(
                        "{}: {op} still running after {running:?}, past its timeout {t:?} plus the bound {bound:?}",
                        p.what
                    );
                    p.kill(why.clone());
                    failures.push(format!(
                        "{why}; the scribbler's last write: {}",
                        board.noted()
                    ));
                }
                None if stopped_at.is_some()
                    && running > scaled(GRACE)
                    && last_rescue.elapsed() > scaled(GRACE) =>
                {
                    rescue(kind, region, &snapshot);
                    rescues += 1;
                    last_rescue = Instant::now();
                }
                _ => {}
            }
        }
        let all_gone = victims.iter_mut().all(Proc::poll);
        if stopped_at.is_none() && (scribbler.poll() || all_gone) {
            board.set(CONTROL, STOP, 1);
            stopped_at = Some(Instant::now());
        }
        if let Some(at) = stopped_at {
            if all_gone && scribbler.poll() {
                break;
            }
            if at.elapsed() > scaled(HANG_LIMIT) {
                for (i, p) in victims.iter_mut().enumerate() {
                    if !p.poll() {
                        let op = board
                            .in_flight(FIRST_VICTIM + i)
                            .map_or("no call".into(), |(op, running, _)| {
                                format!("{op}, running for {running:?}")
                            });
                        let why = format!(
                            "{}: hung: still running {:?} after the scribbler stopped, in {op}",
                            p.what,
                            scaled(HANG_LIMIT)
                        );
                        p.kill(why.clone());
                        failures.push(why);
                    }
                }
                scribbler.kill("still running after every victim ended".into());
            }
        }
        // The watchdog's sampling period (its resolution is far below BOUND): nothing
        // waits for anything here, and yielding instead would take CPU from the victims.
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = t0.elapsed();

    // Judge.
    let (sreport, _, serr) = scribbler.finish();
    let scribble_status = scribbler.status.unwrap();
    if !scribble_status.success() {
        failures.push(format!(
            "the scribbler failed: {}\n{serr}",
            describe(scribble_status)
        ));
    }
    let num = |r: &BTreeMap<String, String>, k: &str| -> u64 {
        r.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let words_done = num(&sreport, "words");
    let table_writes = num(&sreport, "table_writes");
    let random_writes = num(&sreport, "random_writes");
    let fewest = num(&sreport, "fewest_values");
    let want_random = rounds()
        * if valgrind {
            RANDOM_WRITES_VALGRIND
        } else {
            RANDOM_WRITES
        };
    if failures.is_empty() {
        // Only meaningful when nothing stopped the scribbler early.
        if words_done != (rounds() * table) as u64 || random_writes != want_random as u64 {
            failures.push(format!(
                "the scribbler did not finish: {words_done} of {} words, {random_writes} of {want_random} random writes",
                rounds() * table
            ));
        }
        if fewest < 10 {
            failures.push(format!("a word got only {fewest} hostile values"));
        }
    }
    let mut total_ops = 0;
    let mut worst = (0u64, String::new());
    for p in &mut victims {
        let (r, out, err) = p.finish();
        let status = p.status.unwrap();
        eprintln!(
            "soak {}: {} {}: {}",
            kind.name(),
            p.what,
            describe(status),
            r.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if p.killed.is_some() {
            continue; // already a failure
        }
        let tail = |s: &str| -> String {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        if !status.success() {
            failures.push(format!(
                "{}: {} {}\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
                p.what,
                describe(status),
                p.ended_in.as_deref().unwrap_or(""),
                tail(&out),
                tail(&err)
            ));
            continue;
        }
        total_ops += num(&r, "ops");
        let over = num(&r, "worst_over_us");
        if over >= worst.0 {
            worst = (over, format!("{} in {}", r["worst_op"], p.what));
        }
        if num(&r, "ops") == 0 || num(&r, "ok") == 0 {
            failures.push(format!("{}: made no successful call: {r:?}", p.what));
        }
        if num(&r, "panics") != 0 {
            failures.push(format!("{}: calls panicked: {}", p.what, r["first_panic"]));
        }
        if num(&r, "late") != 0 {
            failures.push(format!(
                "{}: {} calls returned later than their timeout plus {bound:?}, first: {}",
                p.what, r["late"], r["first_late"]
            ));
        }
        if r["errors"].split(',').any(|e| e.starts_with("Other:")) {
            failures.push(format!(
                "{}: untyped errors (ErrorKind::Other): {}",
                p.what, r["errors"]
            ));
        }
    }
    eprintln!(
        "soak {}{}: {} victims, {total_ops} operations; scribbler: {table} words of the layout, {table_writes} hostile values written (at least {fewest} per word), {random_writes} random writes, {}; longest call past its timeout: {} µs ({}); {rescues} untimed waits woken after the scribbler stopped; {:.1} s",
        kind.name(),
        if valgrind { " (under valgrind)" } else { "" },
        victims.len(),
        sreport.get("rebuilds").map_or(String::new(), |n| format!("{n} rebuilds")),
        worst.0,
        worst.1,
        elapsed.as_secs_f64()
    );
    eprintln!("soak {}: scribbler: {sreport:?}", kind.name());
    eprintln!("soak {}: the words: {}", kind.name(), names.join(", "));
    assert!(
        failures.is_empty(),
        "the {} soak failed:\n{}",
        kind.name(),
        failures.join("\n")
    );
}

#[test]
fn hostile_soak_spsc() {
    soak(Kind::Spsc);
}

#[test]
fn hostile_soak_mpmc() {
    soak(Kind::Mpmc);
}

#[test]
fn hostile_soak_pubsub() {
    soak(Kind::PubSub);
}

#[test]
fn hostile_soak_named() {
    soak(Kind::Named);
}

#[test]
fn hostile_soak_mutex() {
    soak(Kind::Mutex);
}

#[test]
fn hostile_soak_condvar_event() {
    soak(Kind::Condvar);
}

#[test]
fn hostile_soak_seqlock() {
    soak(Kind::SeqLock);
}
