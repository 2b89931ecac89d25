//! Interoperability with a real C program (compiled here with the system's C compiler):
//! the same path and project id give the same key, and data written on one side is read on
//! the other, in both directions.

mod common;

use shmkit::{Key, Segment, ShmId};
use std::process::Command;

const SIZE: usize = 10_007;

fn pattern_a(i: usize) -> u8 {
    (i.wrapping_mul(31).wrapping_add(7)) as u8
}

fn pattern_b(i: usize) -> u8 {
    (i.wrapping_mul(17).wrapping_add(3)) as u8
}

fn peer(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::c_peer())
        .args(args)
        .output()
        .expect("running the C peer");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn c_and_rust_compute_the_same_ftok_keys() {
    let dir = common::TempDir::new("cpeer-ftok");
    for proj in [1, 65, 255, 256, 257] {
        let (ok, out, err) = peer(&["ftok", dir.path().to_str().unwrap(), &proj.to_string()]);
        assert!(ok, "{err}");
        assert_eq!(out, Key::ftok(dir.path(), proj).unwrap().to_string());
    }
}

#[test]
fn c_creates_and_writes_rust_reads() {
    let dir = common::TempDir::new("cpeer-c2r");
    let path = dir.path().to_str().unwrap();
    let (ok, out, err) = peer(&["create", path, "67", &SIZE.to_string()]);
    // Guard whatever the peer made before looking at what it said.
    let seg = Segment::open(Key::ftok(dir.path(), 67).unwrap()).map(Segment::remove_on_drop);
    assert!(ok, "C peer failed: {err}");
    let seg = seg.unwrap();
    assert_eq!(seg.id(), ShmId::from_raw(out.parse().unwrap()));

    let opened = Segment::open(Key::ftok(dir.path(), 67).unwrap()).unwrap();
    assert_eq!(opened.id(), seg.id());
    let map = opened.attach_read_only().unwrap();
    assert_eq!(map.len(), SIZE);
    let bytes = map.read_vec(0, SIZE).unwrap();
    let bad = bytes.iter().enumerate().find(|(i, &b)| b != pattern_a(*i));
    assert_eq!(bad, None, "first differing byte");
    let stat = opened.stat().unwrap();
    assert_eq!((stat.mode, stat.size), (0o600, SIZE));
}

#[test]
fn rust_creates_and_writes_c_reads() {
    let dir = common::TempDir::new("cpeer-r2c");
    let key = Key::ftok(dir.path(), 82).unwrap();
    let seg = Segment::builder(key)
        .size(SIZE)
        .create()
        .unwrap()
        .remove_on_drop();
    let map = seg.attach().unwrap();
    let data: Vec<u8> = (0..SIZE).map(pattern_b).collect();
    map.write_at(0, &data).unwrap();
    let (ok, out, err) = peer(&[
        "check",
        dir.path().to_str().unwrap(),
        "82",
        &SIZE.to_string(),
    ]);
    assert!(ok, "C peer failed: {err}");
    assert_eq!(out, format!("ok {}", seg.id()));
    // The C peer really attached: the kernel recorded another process as last attacher.
    assert_ne!(seg.stat().unwrap().lpid as u32, std::process::id());
}

#[test]
fn c_sees_a_corrupted_byte() {
    // The check is real: one wrong byte and the C peer says so.
    let dir = common::TempDir::new("cpeer-bad");
    let key = Key::ftok(dir.path(), 9).unwrap();
    let seg = Segment::builder(key)
        .size(SIZE)
        .create()
        .unwrap()
        .remove_on_drop();
    let map = seg.attach().unwrap();
    let mut data: Vec<u8> = (0..SIZE).map(pattern_b).collect();
    data[4321] ^= 0xff;
    map.write_at(0, &data).unwrap();
    let (ok, _, err) = peer(&[
        "check",
        dir.path().to_str().unwrap(),
        "9",
        &SIZE.to_string(),
    ]);
    assert!(!ok);
    assert!(err.contains("byte 4321"), "{err}");
}
