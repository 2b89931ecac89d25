//! An uncontended `semop` and a `msgsnd`+`msgrcv` pair through shmkit versus the same calls
//! on raw libc, measured in the same run: rounds alternate the order (A B, then B A, …) and
//! the result is the median of the per-round ratios.
//!
//! `cargo bench --bench ipc` (`SHMKIT_BENCH_ROUNDS`, `SHMKIT_BENCH_ITERS` change the effort).
#![allow(missing_docs)]

mod common;

use shmkit::{Key, MessageQueue, Selector, SemOp, SemaphoreSet};
use std::hint::black_box;
use std::time::Duration;

const MSG_LEN: usize = 64;

fn compare(name: &str, rounds: u32, iters: u32, mut raw: impl FnMut(), mut ours: impl FnMut()) {
    let run = common::interleave(
        rounds,
        iters,
        |n| common::time(n, &mut raw),
        |n| common::time(n, &mut ours),
    );
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(rounds * iters);
    let (median, min, max) = run.ratios();
    println!(
        "{name}: raw libc {:.0} ns/op, shmkit {:.0} ns/op; ratio shmkit/raw median {median:.3} (min {min:.3}, max {max:.3}) over {rounds} interleaved rounds of {iters}",
        per(run.baseline),
        per(run.candidate),
    );
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: a smoke run only.
    let (rounds, iters) = common::effort_with(20_000);

    let set = SemaphoreSet::create(Key::PRIVATE, 1)
        .expect("semget")
        .remove_on_drop();
    let id = set.id().raw();
    // +1 then -1: never blocks, leaves the value as it was.
    let raw_sem = || {
        let mut ops = [
            libc::sembuf {
                sem_num: 0,
                sem_op: 1,
                sem_flg: 0,
            },
            libc::sembuf {
                sem_num: 0,
                sem_op: -1,
                sem_flg: 0,
            },
        ];
        for op in &mut ops {
            // SAFETY: one valid sembuf on a set this process owns.
            let rc = unsafe { libc::semop(id, op, 1) };
            assert_eq!(rc, 0);
        }
    };
    let ours_sem = || {
        set.op(&[SemOp::new(0, 1)]).expect("semop");
        set.op(&[SemOp::new(0, -1)]).expect("semop");
    };
    compare(
        "semop (uncontended, +1 then -1)",
        rounds,
        iters,
        raw_sem,
        ours_sem,
    );

    let queue = MessageQueue::create(Key::PRIVATE)
        .expect("msgget")
        .remove_on_drop();
    let qid = queue.id().raw();
    let payload = [0x5au8; MSG_LEN];
    #[repr(C)]
    struct MsgBuf {
        mtype: libc::c_long,
        mtext: [u8; MSG_LEN],
    }
    let raw_msg = || {
        let mut buf = MsgBuf {
            mtype: 1,
            mtext: payload,
        };
        // SAFETY: `buf` is a msgbuf with MSG_LEN bytes of text, for both calls.
        unsafe {
            assert_eq!(
                libc::msgsnd(qid, (&buf as *const MsgBuf).cast(), MSG_LEN, 0),
                0
            );
            let n = libc::msgrcv(qid, (&mut buf as *mut MsgBuf).cast(), MSG_LEN, 0, 0);
            assert_eq!(n, MSG_LEN as isize);
        }
        black_box(&buf.mtext);
    };
    let mut out = [0u8; MSG_LEN];
    let mut ours_msg = || {
        queue.send(1, &payload).expect("msgsnd");
        let (_, n) = queue.recv(Selector::Any, &mut out).expect("msgrcv");
        assert_eq!(n, MSG_LEN);
        black_box(&out);
    };
    compare(
        "msgsnd+msgrcv (64 B)",
        rounds,
        iters,
        raw_msg,
        &mut ours_msg,
    );
}
