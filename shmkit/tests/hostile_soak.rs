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
//! After each hostile write the scribbler waits (yielding, never sleeping) until every
//! victim has made a whole call with the value in place (one value in four meets one victim
//! alone for 16 calls while the others pause between calls, so that a queue drains or fills
//! with the value in place and no other endpoint cuts a wait short), then usually puts the
//! old value back if the word still holds its own (a compare-and-swap), and wakes the lock
//! words, so that each value meets a working structure. Before each word it rebuilds the
//! structure as a peer could (a channel is laid out again; a sync structure gets its
//! header, values and `pthread_mutex_t` words back, unlocked and with `__kind` as created,
//! but not `__list`, and its futex words a wake-up).
//!
//! Every word is written while the victims call, whatever they are doing: the words of a
//! `pthread_mutex_t` too, `__kind`, `__spins`/`__elision` and `__list` included, as a peer
//! that locks, unlocks or scribbles can at any instant. No glibc code runs on a
//! `RobustMutex` after `pthread_mutex_init`, and shmkit's own lock and unlock load each
//! word once, validate it and follow no pointer from the segment (see `# Hostile peers` in
//! `RobustMutex`'s docs), so a write racing a call is inside the guarantee. (The soak used
//! to write those three words only while every victim paused between calls, when glibc
//! still read them again inside each call.) The only pause left is the solo turn above,
//! which is about which endpoints call, not about when a word may be written.
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
//!   panics like the others, and for hangs: the scribbler keeps putting the lock state back
//!   and waking (after most values, before every word, and every 64 random writes), so
//!   such a call still waiting after [`UNTIMED_LIMIT`] is a hang; once the scribbler has
//!   stopped, this process acts as a well-behaved peer (restores the lock words, notifies),
//!   and every victim must then finish within [`HANG_LIMIT`];
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
mod soak;

use soak::*;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

/// The child process's entry: runs the [`SoakProbe`] given in its arguments.
#[test]
#[ignore = "helper: run by the soak tests as a child process"]
fn soak_child() {
    common::probe::serve::<SoakProbe>();
}

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

fn spawn(what: String, probe: SoakProbe, valgrind: bool) -> Proc {
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
    cmd.args(common::probe::child_args("soak_child", &probe))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {what} ({probe:?}): {e}"));
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
            let victim = SoakProbe::Victim {
                role: *role,
                segment: seg.id(),
                board: board_seg.id(),
                slot: FIRST_VICTIM + i,
                seed: common::random_u64(),
                name: name.clone(),
            };
            spawn(format!("victim {i} ({role})"), victim, valgrind)
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
        SoakProbe::Scribbler {
            kind,
            segment: seg.id(),
            board: board_seg.id(),
            seed: common::random_u64(),
        },
        false,
    );

    // Watch: calls in flight past their timeout plus the bound; the scribbler's end; then
    // the victims' end, waking untimed waits as a well-behaved peer would.
    let bound = scaled(BOUND);
    // Not scaled whole under valgrind: a victim only has to finish one call and exit, and
    // an untimed wait only has to see one of the scribbler's wake-ups.
    let hang_limit = HANG_LIMIT + bound;
    let untimed_limit = UNTIMED_LIMIT + bound;
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
                None if stopped_at.is_none() && running > untimed_limit => {
                    let words: Vec<String> = kind
                        .futex_words()
                        .0
                        .iter()
                        .map(|&at| {
                            let w = region.read_vec(at, 40).unwrap();
                            let w: Vec<String> = w
                                .chunks(4)
                                .map(|c| {
                                    format!("{:#x}", u32::from_ne_bytes(c.try_into().unwrap()))
                                })
                                .collect();
                            format!("pthread_mutex_t at {at}: [{}]", w.join(", "))
                        })
                        .collect();
                    let who: Vec<String> = (SCRIBBLER..FIRST_VICTIM + roles.len())
                        .map(|slot| {
                            format!(
                                "slot {slot}: pid {} tid {:#x}",
                                board.get(slot, PID),
                                board.get(slot, TID)
                            )
                        })
                        .collect();
                    let why = format!(
                        "{}: {op} (no timeout) still waiting after {running:?} while the scribbler kept putting the lock state back and waking; {} ({})",
                        p.what,
                        words.join("; "),
                        who.join(", ")
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
            if at.elapsed() > hang_limit {
                for (i, p) in victims.iter_mut().enumerate() {
                    if !p.poll() {
                        let op = board
                            .in_flight(FIRST_VICTIM + i)
                            .map_or("no call".into(), |(op, running, _)| {
                                format!("{op}, running for {running:?}")
                            });
                        let why = format!(
                            "{}: hung: still running {:?} after the scribbler stopped, in {op}",
                            p.what, hang_limit
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
