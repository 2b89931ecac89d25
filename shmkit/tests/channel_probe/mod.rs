//! The shared message format of the `channel` tests, and the probe family of the SPSC
//! tests ([`ChannelProbe`]): senders and receivers in another process. `channel_spsc.rs`
//! and `channel_named.rs` serve it from their ignored test `probe`
//! (`common::probe::serve::<ChannelProbe>()`; see `common::probe`). Replies are
//! `PROBE: …` lines.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub use crate::common::probe::say;
use crate::common::probe::{probe_enum, Probe};
use shmkit::channel::{Receiver, Sender, TrySendError, Wait};
use shmkit::{Key, Segment};

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

pub fn attach(key: Key) -> shmkit::Attachment {
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
            return say(format!("recv failed: {:?}", e.kind()));
        }
        if check(&buf) != Ok(want) {
            return say(format!("message {want}: {:?}", check(&buf)));
        }
    }
    say(format!("received {count}"));
}

probe_enum! {
    /// What an SPSC probe process does with the channel at offset 0 of the test segment
    /// `key` (or the named channel `name`). Each says `opened` once it holds its endpoint
    /// (or replies `open failed: KIND`).
    pub enum ChannelProbe {
        /// Become the sender, send messages `from..from + count`, reply `sent`.
        Send { key: Key, from: u64, count: u64 },
        /// Become the sender (taking a dead one's place) and send messages `from`,
        /// `from + 1`, … until killed.
        SendForever { key: Key, from: u64 },
        /// Become the receiver and wait for one message (blocking); reply `got CHECK`.
        Recv { key: Key },
        /// Become the receiver (blocking), receive `count` messages in order; reply
        /// `received COUNT`.
        RecvN { key: Key, count: u64 },
        /// Open the channel `name`, become its receiver, receive `count` messages in
        /// order; reply `received COUNT`.
        NamedRecv { name: String, count: u64 },
    }
}

impl Probe for ChannelProbe {
    const FAMILY: &'static str = "ChannelProbe";

    fn run(self) {
        match self {
            ChannelProbe::Send { key, from, count } => send(key, from..from + count),
            ChannelProbe::SendForever { key, from } => send(key, from..),
            ChannelProbe::Recv { key } => recv_one(key),
            ChannelProbe::RecvN { key, count } => recv_n(key, count),
            ChannelProbe::NamedRecv { name, count } => named_recv(&name, count),
        }
    }
}

/// Becomes the sender and sends the messages numbered `seqs`; replies `sent` when they
/// end (an unbounded range never does).
fn send(key: Key, seqs: impl Iterator<Item = u64>) {
    let map = attach(key);
    let mut tx = match Sender::open_in(map.region(), 0) {
        Ok(tx) => tx,
        Err(e) => return say(format!("open failed: {:?}", e.kind())),
    };
    say("opened");
    for seq in seqs {
        if let Err(e) = send_seq(&mut tx, seq) {
            return say(format!("send failed: {e}"));
        }
    }
    say("sent");
}

fn recv_one(key: Key) {
    let map = attach(key);
    let mut rx = match Receiver::open_in(map.region(), 0) {
        Ok(rx) => rx,
        Err(e) => return say(format!("open failed: {:?}", e.kind())),
    };
    rx.set_wait(Wait::Block);
    say("opened");
    let mut buf = Vec::new();
    match rx.recv(&mut buf) {
        Ok(_) => say(format!("got {:?}", check(&buf))),
        Err(e) => say(format!("recv failed: {:?}", e.kind())),
    }
}

fn recv_n(key: Key, count: u64) {
    let map = attach(key);
    let mut rx = match Receiver::open_in(map.region(), 0) {
        Ok(rx) => rx,
        Err(e) => return say(format!("open failed: {:?}", e.kind())),
    };
    rx.set_wait(Wait::Block);
    say("opened");
    receive_in_order(&mut rx, count);
}

fn named_recv(name: &str, count: u64) {
    let channel = match shmkit::channel::named::NamedChannel::open(name) {
        Ok(c) => c,
        Err(e) => return say(format!("open failed: {:?}", e.kind())),
    };
    let mut rx = match channel.receiver() {
        Ok(rx) => rx,
        Err(e) => return say(format!("open failed: {:?}", e.kind())),
    };
    say("opened");
    receive_in_order(&mut rx, count);
}
