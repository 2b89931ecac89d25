//! The seed's warning in practice: shared memory needs synchronisation. Two processes add
//! to one counter in a segment, under a System V semaphore lock (`SEM_UNDO`, so a killed
//! holder would not keep it), and the child reports completion through a message queue.
//!
//! `cargo run --example counter_with_lock`
use shmkit::{
    Key, MessageQueue, RecvOptions, RemoveOnDrop, Segment, Selector, SemLock, SemaphoreSet,
};
use std::process::Command;
use std::sync::atomic::Ordering;

const ROUNDS: u64 = 10_000;

fn add(segment: &Segment, lock: &SemLock) -> Result<(), shmkit::Error> {
    let map = segment.attach()?;
    for _ in 0..ROUNDS {
        let _held = lock.lock()?;
        // A read-modify-write that would lose updates without the lock (each step is a
        // relaxed atomic access, but the pair is not atomic).
        let counter = map.atomic_u64(0)?;
        let v = counter.load(Ordering::Relaxed);
        counter.store(v + 1, Ordering::Relaxed);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, shm, sem, msg] = &args[..] {
        // The child: ids come on the command line (the objects are IPC_PRIVATE).
        assert_eq!(role, "child");
        let segment = Segment::from_id(shmkit::ShmId::from_raw(shm.parse()?))?;
        let set = SemaphoreSet::from_id(shmkit::SemId::from_raw(sem.parse()?))?;
        let queue = MessageQueue::from_id(shmkit::MsgId::from_raw(msg.parse()?))?;
        add(&segment, &SemLock::new(set, 0))?;
        queue.send(1, b"child done")?;
        return Ok(());
    }

    let segment: RemoveOnDrop<Segment> = Segment::create(Key::PRIVATE, 4096)?.remove_on_drop();
    let set = SemaphoreSet::create(Key::PRIVATE, 1)?.remove_on_drop();
    let queue = MessageQueue::create(Key::PRIVATE)?.remove_on_drop();
    let lock = SemLock::new((*set).clone(), 0);
    lock.init()?;

    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "child",
            &segment.id().to_string(),
            &set.id().to_string(),
            &queue.id().to_string(),
        ])
        .spawn()?;
    add(&segment, &lock)?;
    assert!(child.wait()?.success(), "the child failed");
    let mut buf = [0u8; 32];
    let (_, n) = queue.recv_with(Selector::Type(1), &mut buf, RecvOptions::new().no_wait())?;
    println!(
        "message from the child: {}",
        String::from_utf8_lossy(&buf[..n])
    );

    let total = segment.attach_read_only()?.load_u64(0, Ordering::Acquire)?;
    println!("counter = {total} (expected {})", 2 * ROUNDS);
    assert_eq!(total, 2 * ROUNDS);
    Ok(())
}
