//! The seed article's model in one process: ftok → shmget → shmat → use → shmdt → IPC_RMID.
//!
//! `cargo run --example seed_model`
use shmkit::{Key, Segment};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A key both sides can compute: a path they agree on plus a project id.
    let dir = std::env::temp_dir().join(format!("shmkit-example-{}", std::process::id()));
    std::fs::create_dir(&dir)?;
    let result = run(&dir);
    std::fs::remove_dir(&dir)?;
    result
}

fn run(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let key = Key::ftok(dir, i32::from(b'S'))?;
    println!("key {key} from ftok({}, 'S')", dir.display());

    // Create exclusively; the guard removes the segment even if something below fails.
    let segment = Segment::builder(key)
        .size(4096)
        .mode(0o600)
        .create()?
        .remove_on_drop();
    println!("created shmid {}", segment.id());

    let writer = segment.attach()?;
    writer.write_at(0, b"written through one attachment")?;

    let reader = Segment::open(key)?.attach_read_only()?;
    let mut buf = [0u8; 30];
    reader.read_at(0, &mut buf)?;
    println!("read back: {:?}", std::str::from_utf8(&buf)?);
    println!("attachments: {}", segment.stat()?.nattch);

    segment.remove()?;
    let stat = segment.stat()?;
    println!(
        "after IPC_RMID: key {} dest={} nattch={}",
        stat.key, stat.dest, stat.nattch
    );
    drop((writer, reader)); // shmdt twice: the kernel frees the segment now
    assert!(segment.stat().is_err());
    println!("detached: the segment is gone");
    Ok(())
}
