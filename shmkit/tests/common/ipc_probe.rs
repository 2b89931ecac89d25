//! The probe family of the facility tests (`segment.rs`, `ltp_*.rs`): one SysV call (or a
//! short sequence) through shmkit, often as another user or in a new IPC namespace. Each
//! replies with one line: `ok…`, the error kind, or what the variant's doc says.
#![allow(dead_code, unreachable_pub, missing_docs)]

use super::probe::{probe_enum, say, Probe};
use super::NOBODY;
use shmkit::{Key, MessageQueue, RecvOptions, Segment, Selector, SemOp, SemaphoreSet};

probe_enum! {
    /// One operation on a segment, a semaphore set or a message queue.
    pub enum IpcProbe {
        /// Open with a permission request (`mode`, e.g. `0o400`).
        ShmOpen { key: Key, size: usize, mode: u32 },
        /// Create and keep (the caller removes it); replies `ok ID`.
        ShmCreate { key: Key, size: usize, mode: u32 },
        /// Create a private segment of 2 MiB huge pages.
        ShmCreateHuge { size: usize },
        /// Open or create; replies `ok created=…`, or the kind and the squatting reason.
        ShmOpenOrCreate { key: Key, size: usize, mode: u32 },
        /// Create a mode-0 segment (unreadable even to its owner), stat it, chmod it, stat
        /// it again: replies the three outcomes.
        ShmOwnMode0 { size: usize },
        ShmAttach { key: Key },
        ShmAttachReadOnly { key: Key },
        ShmStat { key: Key },
        ShmRemove { key: Key },
        /// Set the mode to 0o666.
        ShmSetMode { key: Key },
        /// Give the segment to `nobody`.
        ShmSetOwner { key: Key },
        ShmLock { key: Key },
        ShmUnlock { key: Key },
        /// Attach read-only, say `attached`, write through the raw pointer: SIGSEGV.
        ShmWriteReadOnly { key: Key },
        /// Keep the address, detach, say `detached`, write: SIGSEGV.
        ShmWriteAfterDetach { key: Key },
        /// In a private IPC namespace: set `shmmni`, create until refused.
        ShmCreateUntilRefused { shmmni: u32 },
        /// Take the `SemLock` on semaphore 0, say `holding`, wait for stdin to close.
        SemHold { key: Key },
        /// Wait for semaphore 0 to be positive; reply how the wait ended.
        SemWait { key: Key },
        /// Like `SemWait`, but a SIGUSR1 (with a handler, no SA_RESTART) ends the wait.
        SemWaitInterruptible { key: Key },
        /// +1 with SEM_UNDO until the kernel refuses.
        SemUndoLimit { key: Key },
        /// In a private IPC namespace: set `semmni`, create until refused.
        SemCreateUntilRefused { semmni: u32 },
        /// One operation, without waiting.
        SemOperate { key: Key, num: u16, delta: i16 },
        SemOpen { key: Key, mode: u32 },
        /// Replies `ok VALUE` of semaphore 0.
        SemGetValue { key: Key },
        SemRemove { key: Key },
        /// Set the mode to 0o666.
        SemSetMode { key: Key },
        /// A blocking receive; replies `ok TYPE LEN` or how it ended.
        MsgRecvBlocking { key: Key },
        /// A blocking send into a (full) queue; replies how it ended.
        MsgSendBlocking { key: Key },
        /// `count` times: receive a type-1 request and send it back as type 2.
        MsgEcho { key: Key, count: usize },
        /// Send `count` messages of type `id + 1` carrying `id:seq`.
        MsgSender { key: Key, id: usize, count: usize },
        /// Receive any message until one of type 999; replies `got` and the texts.
        MsgReceiver { key: Key },
        /// In a private IPC namespace: set `msgmni`, create until refused.
        MsgCreateUntilRefused { msgmni: u32 },
        MsgOpen { key: Key, mode: u32 },
        /// Send one message without waiting.
        MsgSend { key: Key },
        /// Receive one message without waiting.
        MsgRecv { key: Key },
        MsgStat { key: Key },
        MsgRemove { key: Key },
        /// Set the mode to 0o666.
        MsgSetMode { key: Key },
        /// Raise the queue's byte limit above `msgmnb`.
        MsgRaiseMaxBytes { key: Key },
        /// In a private IPC namespace: make segments of several kinds and check that /proc
        /// and the syscalls list exactly them, and that `shm_next_id` works.
        NamespaceListing,
    }
}

impl Probe for IpcProbe {
    const FAMILY: &'static str = "IpcProbe";

    fn run(self) {
        use IpcProbe::*;
        let reply = match self {
            ShmOpen { key, size, mode } => shm_open(key, size, mode),
            ShmCreate { key, size, mode } => shm_create(key, size, mode),
            ShmCreateHuge { size } => shm_create_huge(size),
            ShmOpenOrCreate { key, size, mode } => shm_open_or_create(key, size, mode),
            ShmOwnMode0 { size } => shm_own_mode0(size),
            ShmAttach { key } => done(Segment::open(key).and_then(|s| s.attach().map(drop))),
            ShmAttachReadOnly { key } => {
                done(Segment::open(key).and_then(|s| s.attach_read_only().map(drop)))
            }
            ShmStat { key } => done(Segment::open(key).and_then(|s| s.stat())),
            ShmRemove { key } => done(Segment::open(key).and_then(|s| s.remove())),
            ShmSetMode { key } => done(Segment::open(key).and_then(|s| s.set_mode(0o666))),
            ShmSetOwner { key } => {
                done(Segment::open(key).and_then(|s| s.set_owner(NOBODY, NOBODY)))
            }
            ShmLock { key } => done(Segment::open(key).and_then(|s| s.lock())),
            ShmUnlock { key } => done(Segment::open(key).and_then(|s| s.unlock())),
            ShmWriteReadOnly { key } => shm_write_read_only(key),
            ShmWriteAfterDetach { key } => shm_write_after_detach(key),
            ShmCreateUntilRefused { shmmni } => {
                create_until_refused("/proc/sys/kernel/shmmni", shmmni.to_string(), || {
                    Segment::create(Key::PRIVATE, 4096).map(|s| s.remove_on_drop())
                })
            }
            SemHold { key } => sem_hold(key),
            SemWait { key } => {
                done(SemaphoreSet::open(key).and_then(|s| s.op(&[SemOp::new(0, -1)])))
            }
            SemWaitInterruptible { key } => sem_wait_interruptible(key),
            SemUndoLimit { key } => sem_undo_limit(key),
            SemCreateUntilRefused { semmni } => create_until_refused(
                "/proc/sys/kernel/sem",
                format!("250 32000 32 {semmni}"),
                || SemaphoreSet::create(Key::PRIVATE, 1).map(|s| s.remove_on_drop()),
            ),
            SemOperate { key, num, delta } => done(
                SemaphoreSet::open(key).and_then(|s| s.op(&[SemOp::new(num, delta).no_wait()])),
            ),
            SemOpen { key, mode } => done(SemaphoreSet::builder(key).mode(mode).open()),
            SemGetValue { key } => outcome(SemaphoreSet::open(key).and_then(|s| s.value(0)), |v| {
                format!("ok {v}")
            }),
            SemRemove { key } => done(SemaphoreSet::open(key).and_then(|s| s.remove())),
            SemSetMode { key } => done(SemaphoreSet::open(key).and_then(|s| s.set_mode(0o666))),
            MsgRecvBlocking { key } => msg_recv_blocking(key),
            MsgSendBlocking { key } => done(MessageQueue::open(key).and_then(|q| q.send(1, b"x"))),
            MsgEcho { key, count } => msg_echo(key, count),
            MsgSender { key, id, count } => msg_sender(key, id, count),
            MsgReceiver { key } => msg_receiver(key),
            MsgCreateUntilRefused { msgmni } => {
                create_until_refused("/proc/sys/kernel/msgmni", msgmni.to_string(), || {
                    MessageQueue::create(Key::PRIVATE).map(|q| q.remove_on_drop())
                })
            }
            MsgOpen { key, mode } => done(MessageQueue::builder(key).mode(mode).open()),
            MsgSend { key } => done(MessageQueue::open(key).and_then(|q| q.try_send(1, b"x"))),
            MsgRecv { key } => msg_recv(key),
            MsgStat { key } => done(MessageQueue::open(key).and_then(|q| q.stat())),
            MsgRemove { key } => done(MessageQueue::open(key).and_then(|q| q.remove())),
            MsgSetMode { key } => done(MessageQueue::open(key).and_then(|q| q.set_mode(0o666))),
            MsgRaiseMaxBytes { key } => msg_raise_max_bytes(key),
            NamespaceListing => namespace_listing(),
        };
        say(reply);
    }
}

/// `ok` or the error kind.
fn done<T>(r: shmkit::Result<T>) -> String {
    outcome(r, |_| "ok".into())
}

/// `ok(value)` or the error kind.
fn outcome<T>(r: shmkit::Result<T>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("{:?}", e.kind()),
    }
}

fn shm_open(key: Key, size: usize, mode: u32) -> String {
    done(Segment::builder(key).size(size).mode(mode).open())
}

fn shm_create(key: Key, size: usize, mode: u32) -> String {
    outcome(Segment::builder(key).size(size).mode(mode).create(), |s| {
        format!("ok {}", s.id())
    })
}

fn shm_create_huge(size: usize) -> String {
    done(
        Segment::builder(Key::PRIVATE)
            .size(size)
            .huge_pages(shmkit::HugePageSize::Size2MiB)
            .create()
            .map(|s| s.remove_on_drop()),
    )
}

fn shm_open_or_create(key: Key, size: usize, mode: u32) -> String {
    match Segment::builder(key).size(size).mode(mode).open_or_create() {
        Ok(s) => format!("ok created={}", s.created()),
        Err(e) => match e.squatting_reason() {
            Some(why) => format!("{:?} {why:?}", e.kind()),
            None => format!("{:?}", e.kind()),
        },
    }
}

fn shm_own_mode0(size: usize) -> String {
    let seg = Segment::builder(Key::PRIVATE)
        .size(size)
        .mode(0)
        .create()
        .unwrap()
        .remove_on_drop();
    let stat_denied = seg
        .stat()
        .map(|_| "stat ok".to_string())
        .unwrap_or_else(|e| format!("{:?}", e.kind()));
    let chmod = done(seg.set_mode(0o640));
    let after = outcome(seg.stat(), |s| format!("{:o}", s.mode));
    format!("{stat_denied} {chmod} {after}")
}

fn shm_write_read_only(key: Key) -> String {
    let seg = Segment::open(key).expect("open");
    let map = seg.attach_read_only().expect("attach read-only");
    say("attached");
    // SAFETY: deliberately wrong: the mapping is read-only and the test expects the
    // kernel to kill this process with SIGSEGV.
    unsafe { map.as_ptr().cast_mut().write_volatile(1) };
    "wrote".into()
}

fn shm_write_after_detach(key: Key) -> String {
    let seg = Segment::open(key).expect("open");
    let map = seg.attach().expect("attach");
    let ptr = map.as_mut_ptr();
    map.detach().expect("detach");
    say("detached");
    // SAFETY: deliberately wrong: the memory is unmapped and the test expects SIGSEGV.
    unsafe { ptr.write_volatile(1) };
    "wrote".into()
}

/// Writes `limit` to the sysctl `file` (in a private IPC namespace), then creates objects
/// with `create` until refused; replies `KIND after N`.
fn create_until_refused<T>(
    file: &str,
    limit: String,
    mut create: impl FnMut() -> shmkit::Result<T>,
) -> String {
    std::fs::write(file, limit).unwrap_or_else(|e| panic!("writing {file}: {e}"));
    let mut made = Vec::new();
    loop {
        match create() {
            Ok(object) => made.push(object),
            Err(e) => break format!("{:?} after {}", e.kind(), made.len()),
        }
        if made.len() > 10_000 {
            break "no limit".into();
        }
    }
}

fn sem_hold(key: Key) -> String {
    let lock = shmkit::SemLock::new(SemaphoreSet::open(key).unwrap(), 0);
    let _held = lock.lock().unwrap();
    say("holding");
    let mut sink = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink);
    "released".into()
}

fn sem_wait_interruptible(key: Key) -> String {
    extern "C" fn on_signal(_: libc::c_int) {}
    // SAFETY: installs a handler that does nothing, without SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    done(SemaphoreSet::open(key).and_then(|s| s.op_interruptible(&[SemOp::new(0, -1)])))
}

fn sem_undo_limit(key: Key) -> String {
    let set = SemaphoreSet::open(key).unwrap();
    let mut n = 0u32;
    loop {
        match set.op(&[SemOp::new(0, 1).undo()]) {
            Ok(()) => n += 1,
            Err(e) => break format!("{:?} after {n}", e.kind()),
        }
        if n > 100_000 {
            break "no limit".into();
        }
    }
}

fn msg_recv_blocking(key: Key) -> String {
    let mut buf = [0u8; 64];
    outcome(
        MessageQueue::open(key).and_then(|q| q.recv(Selector::Any, &mut buf)),
        |(t, n)| format!("ok {t} {n}"),
    )
}

fn msg_echo(key: Key, count: usize) -> String {
    let q = MessageQueue::open(key).unwrap();
    let mut buf = [0u8; 256];
    for _ in 0..count {
        let (_, n) = q.recv(Selector::Type(1), &mut buf).unwrap();
        q.send(2, &buf[..n]).unwrap();
    }
    "echoed".into()
}

fn msg_sender(key: Key, id: usize, count: usize) -> String {
    let q = MessageQueue::open(key).unwrap();
    for seq in 0..count {
        q.send(id as i64 + 1, format!("{id}:{seq}").as_bytes())
            .unwrap();
    }
    "sent".into()
}

fn msg_receiver(key: Key) -> String {
    let q = MessageQueue::open(key).unwrap();
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    loop {
        let (t, n) = q.recv(Selector::Any, &mut buf).unwrap();
        if t == 999 {
            break;
        }
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    format!("got {}", got.join(","))
}

fn msg_recv(key: Key) -> String {
    let mut buf = [0u8; 16];
    done(
        MessageQueue::open(key)
            .and_then(|q| q.recv_with(Selector::Any, &mut buf, RecvOptions::new().no_wait())),
    )
}

fn msg_raise_max_bytes(key: Key) -> String {
    done(MessageQueue::open(key).and_then(|q| {
        let limit = shmkit::info::msg_limits()?.msgmnb;
        q.set_max_bytes(limit + 1)
    }))
}

fn namespace_listing() -> String {
    use shmkit::info;
    if !info::segments().unwrap().is_empty() {
        return "namespace not empty".into();
    }
    // shmget05: shm_next_id picks the next id (above 32768 here).
    std::fs::write("/proc/sys/kernel/shm_next_id", "40000").expect("writing shm_next_id");
    let a = Segment::builder(Key::from_raw(0x5eed_0001))
        .size(1)
        .mode(0o644)
        .create()
        .unwrap();
    if a.id().raw() != 40000 {
        return format!("shm_next_id ignored: id {}", a.id());
    }
    let next: i64 = std::fs::read_to_string("/proc/sys/kernel/shm_next_id")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if next != -1 {
        return format!("shm_next_id not reset: {next}");
    }
    let b = Segment::builder(Key::PRIVATE)
        .size(70_000)
        .mode(0o400)
        .create()
        .unwrap();
    let c = Segment::builder(Key::from_raw(-2))
        .size(4096)
        .create()
        .unwrap();
    let map = c.attach().unwrap();
    c.remove().unwrap(); // dest, still attached
    b.lock().unwrap();
    let mut proc_rows = info::segments().unwrap();
    let mut sys_rows = info::segments_from_syscalls().unwrap();
    for r in &mut proc_rows {
        if r.rss.is_none() || r.swap.is_none() {
            return "no rss/swap in /proc".into();
        }
        r.rss = None;
        r.swap = None;
    }
    proc_rows.sort_by_key(|r| r.id);
    sys_rows.sort_by_key(|r| r.id);
    if proc_rows != sys_rows {
        return format!("sources differ:\n{proc_rows:#?}\n{sys_rows:#?}");
    }
    let mut stats = vec![a.stat().unwrap(), b.stat().unwrap(), c.stat().unwrap()];
    stats.sort_by_key(|r| r.id);
    if proc_rows != stats {
        return format!("listing differs from IPC_STAT:\n{proc_rows:#?}\n{stats:#?}");
    }
    let usage = info::shm_usage().unwrap();
    if usage.segments != 3 {
        return format!("SHM_INFO counts {} segments", usage.segments);
    }
    let flags: Vec<(bool, bool)> = proc_rows.iter().map(|r| (r.dest, r.locked)).collect();
    drop(map);
    format!("ok {} {:?}", proc_rows.len(), flags)
}
