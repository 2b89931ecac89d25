//! Probe operations for the `channel` tests: the child-process side (producers, consumers
//! and scribblers). Each `channel_*.rs` test file declares
//! `#[test] #[ignore] fn probe() { channel_probe::probe_main() }`; `common::spawn_probe`
//! runs that test in a new process with `$SHMKIT_PROBE` set to `op args…`. Results are
//! printed as `PROBE: …` lines.
#![allow(dead_code, unreachable_pub, missing_docs)]

use shmkit::channel::{Receiver, Sender, TrySendError, Wait};
use shmkit::{Key, Segment};
use std::io::Write;

/// FNV-1a.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The `seq`th message: `seq` (8 bytes), bytes derived from it, then an FNV-1a checksum of
/// everything before it. Lengths vary from 16 to 16 + 300 bytes so records wrap the ring at
/// every position.
pub fn message(seq: u64) -> Vec<u8> {
    let body = (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize % 301;
    let mut m = Vec::with_capacity(16 + body);
    m.extend_from_slice(&seq.to_le_bytes());
    let mut x = seq;
    for _ in 0..body {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        m.push(x as u8);
    }
    let sum = fnv(&m);
    m.extend_from_slice(&sum.to_le_bytes());
    m
}

/// Checks a received message: whole (checksum), and returns its sequence number.
pub fn check(m: &[u8]) -> Result<u64, String> {
    if m.len() < 16 {
        return Err(format!("a message of {} bytes", m.len()));
    }
    let (body, sum) = m.split_at(m.len() - 8);
    if fnv(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
        return Err(format!("torn message of {} bytes", m.len()));
    }
    let seq = u64::from_le_bytes(m[..8].try_into().unwrap());
    if message(seq) != m {
        return Err(format!("message {seq} has the wrong contents"));
    }
    Ok(seq)
}

/// Runs `f` on a thread of its own and returns its result, or `None` when it has not
/// returned within `bound` (the thread is then left running; the caller fails the test).
/// Only for requirements that are themselves a deadline ("a call with a timeout returns"):
/// the bound is generous, seconds where the timeout is milliseconds.
pub fn returns_within<T: Send + 'static>(
    bound: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(bound) {
        Ok(v) => Some(v),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the call panicked"),
    }
}

pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "PROBE: {line}");
    let _ = out.flush();
}

fn attach(arg: &str) -> shmkit::Attachment {
    let key: Key = arg.parse().expect("probe key");
    Segment::open(key)
        .and_then(|s| s.attach())
        .expect("attaching the test segment")
}

/// Sends message `seq`, retrying while the ring is full; `Err` for any other failure.
pub fn send_seq<R: std::ops::Deref<Target = shmkit::Region>>(
    tx: &mut Sender<R>,
    seq: u64,
) -> Result<(), String> {
    let m = message(seq);
    loop {
        // Alternate the zero-copy and the copying paths.
        let r = if seq % 2 == 0 {
            match tx.loan(m.len()) {
                Ok(loan) => {
                    loan.write_at(0, &m).map_err(|e| e.to_string())?;
                    loan.commit();
                    Ok(())
                }
                Err(e) if e.kind() == shmkit::ErrorKind::WouldBlock => {
                    Err(TrySendError::Full(&m[..]))
                }
                Err(e) => Err(TrySendError::Failed(&m[..], e)),
            }
        } else {
            tx.try_send(&m)
        };
        match r {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => {
                assert_eq!(back, &m[..], "a full channel hands the message back");
                std::thread::yield_now();
            }
            Err(TrySendError::Failed(_, e)) => return Err(e.to_string()),
        }
    }
}

/// Receives messages 0..`count` in order and reports `received COUNT`, or the first
/// failure.
fn receive_in_order<R: std::ops::Deref<Target = shmkit::Region>>(rx: &mut Receiver<R>, count: u64) {
    let mut buf = Vec::new();
    for want in 0..count {
        if let Err(e) = rx.recv(&mut buf) {
            return say(&format!("recv failed: {:?}", e.kind()));
        }
        if check(&buf) != Ok(want) {
            return say(&format!("message {want}: {:?}", check(&buf)));
        }
    }
    say(&format!("received {count}"));
}

/// Runs the op named by `$SHMKIT_PROBE`, if any.
pub fn probe_main() {
    let Ok(spec) = std::env::var("SHMKIT_PROBE") else {
        return;
    };
    let args: Vec<&str> = spec.split(' ').collect();
    match args[0] {
        // send KEY FROM COUNT: become the sender, send messages FROM..FROM+COUNT, report
        "send" => {
            let map = attach(args[1]);
            let from: u64 = args[2].parse().unwrap();
            let count: u64 = args[3].parse().unwrap();
            let mut tx = match Sender::open_in(map.region(), 0) {
                Ok(tx) => tx,
                Err(e) => return say(&format!("open failed: {:?}", e.kind())),
            };
            say("opened");
            for seq in from..from + count {
                if let Err(e) = send_seq(&mut tx, seq) {
                    return say(&format!("send failed: {e}"));
                }
            }
            say("sent");
        }
        // send-forever KEY FROM: become the sender (taking a dead one's place) and send
        // messages FROM, FROM+1, ... until killed
        "send-forever" => {
            let map = attach(args[1]);
            let from: u64 = args[2].parse().unwrap();
            let mut tx = match Sender::open_in(map.region(), 0) {
                Ok(tx) => tx,
                Err(e) => return say(&format!("open failed: {:?}", e.kind())),
            };
            say("opened");
            let mut seq = from;
            loop {
                if let Err(e) = send_seq(&mut tx, seq) {
                    return say(&format!("send failed: {e}"));
                }
                seq += 1;
            }
        }
        // recv KEY MODE: become the receiver and wait for one message (blocking), report it
        "recv" => {
            let map = attach(args[1]);
            let mut rx = match Receiver::open_in(map.region(), 0) {
                Ok(rx) => rx,
                Err(e) => return say(&format!("open failed: {:?}", e.kind())),
            };
            rx.set_wait(Wait::Block);
            say("opened");
            let mut buf = Vec::new();
            match rx.recv(&mut buf) {
                Ok(_) => say(&format!("got {:?}", check(&buf))),
                Err(e) => say(&format!("recv failed: {:?}", e.kind())),
            }
        }
        // recv-n KEY COUNT: become the receiver (blocking) and receive COUNT messages in
        // order, report
        "recv-n" => {
            let map = attach(args[1]);
            let count: u64 = args[2].parse().unwrap();
            let mut rx = match Receiver::open_in(map.region(), 0) {
                Ok(rx) => rx,
                Err(e) => return say(&format!("open failed: {:?}", e.kind())),
            };
            rx.set_wait(Wait::Block);
            say("opened");
            receive_in_order(&mut rx, count);
        }
        // named-recv NAME COUNT: open the channel by name, become its receiver, receive
        // COUNT messages in order, report
        "named-recv" => {
            let count: u64 = args[2].parse().unwrap();
            let channel = match shmkit::channel::named::NamedChannel::open(args[1]) {
                Ok(c) => c,
                Err(e) => return say(&format!("open failed: {:?}", e.kind())),
            };
            let mut rx = match channel.receiver() {
                Ok(rx) => rx,
                Err(e) => return say(&format!("open failed: {:?}", e.kind())),
            };
            say("opened");
            receive_in_order(&mut rx, count);
        }
        other => panic!("unknown probe op {other}"),
    }
}
