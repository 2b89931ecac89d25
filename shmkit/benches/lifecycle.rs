//! The seed's whole model, create + attach + detach + remove, through shmkit versus the
//! same four calls on raw libc, measured in the same run.
//!
//! The machine is noisy (2 vCPUs that move on the host), so the two loops are interleaved
//! in rounds (A B, then B A, …) and the result is the median of the per-round ratios.
//!
//! `cargo bench --bench lifecycle` (set `SHMKIT_BENCH_ROUNDS` / `SHMKIT_BENCH_ITERS` to
//! change the effort).
#![allow(missing_docs)]

mod common;

use shmkit::{Key, Segment};
use std::hint::black_box;
use std::time::Duration;

const SIZE: usize = 4096;

fn raw_once() {
    // SAFETY: plain System V calls on a private segment this function creates and removes;
    // the attached address is only passed back to shmdt.
    unsafe {
        let id = libc::shmget(
            libc::IPC_PRIVATE,
            SIZE,
            libc::IPC_CREAT | libc::IPC_EXCL | 0o600,
        );
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        let addr = libc::shmat(id, std::ptr::null(), 0);
        assert!(
            addr as isize != -1,
            "shmat: {}",
            std::io::Error::last_os_error()
        );
        black_box(addr);
        assert_eq!(libc::shmdt(addr), 0);
        assert_eq!(libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()), 0);
    }
}

/// Raw libc plus the one extra call shmkit makes: `IPC_STAT` after `shmat`, which is how an
/// attachment learns its size soundly (while attached, the id cannot be reused).
fn raw_with_stat_once() {
    // SAFETY: as in `raw_once`; `ds` is a writable shmid_ds for IPC_STAT.
    unsafe {
        let id = libc::shmget(
            libc::IPC_PRIVATE,
            SIZE,
            libc::IPC_CREAT | libc::IPC_EXCL | 0o600,
        );
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        let addr = libc::shmat(id, std::ptr::null(), 0);
        assert!(
            addr as isize != -1,
            "shmat: {}",
            std::io::Error::last_os_error()
        );
        let mut ds = std::mem::MaybeUninit::<libc::shmid_ds>::zeroed();
        assert_eq!(libc::shmctl(id, libc::IPC_STAT, ds.as_mut_ptr()), 0);
        black_box((addr, ds.assume_init().shm_segsz));
        assert_eq!(libc::shmdt(addr), 0);
        assert_eq!(libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()), 0);
    }
}

fn shmkit_once() {
    let segment = Segment::create(Key::PRIVATE, SIZE).expect("create");
    let map = segment.attach().expect("attach");
    black_box(map.address());
    drop(map);
    segment.remove().expect("remove");
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: a smoke run only.
    let (rounds, iters) = common::effort_with(2000);

    common::time(iters, raw_once); // warm up every path
    common::time(iters, raw_with_stat_once);
    common::time(iters, shmkit_once);
    // Each round runs the three loops in a rotating order (ABC, BCA, CAB, ...).
    let arms: [fn(); 3] = [raw_once, raw_with_stat_once, shmkit_once];
    let mut totals = [Duration::ZERO; 3];
    let (mut vs_raw, mut vs_stat) = (Vec::new(), Vec::new());
    for round in 0..rounds as usize {
        let mut t = [Duration::ZERO; 3];
        for k in 0..3 {
            let arm = (round + k) % 3;
            t[arm] = common::time(iters, arms[arm]);
            totals[arm] += t[arm];
        }
        vs_raw.push(t[2].as_secs_f64() / t[0].as_secs_f64());
        vs_stat.push(t[2].as_secs_f64() / t[1].as_secs_f64());
    }
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(rounds * iters);
    println!(
        "lifecycle (shmget+shmat+shmdt+IPC_RMID, {SIZE} B): raw libc {:.0} ns/op, raw libc + IPC_STAT {:.0} ns/op, shmkit {:.0} ns/op",
        per(totals[0]),
        per(totals[1]),
        per(totals[2])
    );
    for (name, ratios) in [
        ("shmkit / raw libc", &mut vs_raw),
        ("shmkit / raw libc + IPC_STAT", &mut vs_stat),
    ] {
        ratios.sort_by(f64::total_cmp);
        println!(
            "lifecycle ratio {name}: median {:.3} (min {:.3}, max {:.3}) over {rounds} interleaved rounds of {iters}",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}
