//! The Linux Test Project's error table for semget/semop/semctl, each as its typed error,
//! plus SEM_UNDO under SIGKILL, removal while blocked, and timed waits.

mod common;

use common::{IpcProbe, ProbeOptions, NOBODY};
use shmkit::{ErrorKind, Key, SemLock, SemOp, SemaphoreSet};
use std::time::Duration;

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<IpcProbe>();
}

fn as_nobody() -> ProbeOptions {
    ProbeOptions {
        as_user: Some(NOBODY),
        ..ProbeOptions::default()
    }
}

fn private_set(count: usize) -> shmkit::RemoveOnDrop<SemaphoreSet> {
    SemaphoreSet::create(Key::PRIVATE, count)
        .unwrap()
        .remove_on_drop()
}

fn sem_limits() -> shmkit::info::SemLimits {
    shmkit::info::sem_limits().unwrap()
}

// ---- semget01, semget02, semget05 ----

#[test]
fn semget_creates_opens_and_maps_its_errors() {
    let set = common::keyed_sem(3, 0o600);
    assert_eq!(set.stat().unwrap().nsems, 3);
    assert_eq!(SemaphoreSet::open(set.key()).unwrap().id(), set.id());
    assert_eq!(
        SemaphoreSet::create(set.key(), 3).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    // More semaphores than the existing set has.
    let err = SemaphoreSet::builder(set.key())
        .count(4)
        .open()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let key = set.key();
    drop(set);
    assert_eq!(
        SemaphoreSet::open(key).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn semget_einval_for_zero_or_more_than_semmsl_semaphores() {
    assert_eq!(
        SemaphoreSet::create(Key::PRIVATE, 0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let too_many = sem_limits().semmsl as usize + 1;
    let err = SemaphoreSet::create(Key::PRIVATE, too_many).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    // A count no C int can hold: refused before the kernel sees it.
    let err = SemaphoreSet::create(Key::PRIVATE, usize::MAX).unwrap_err();
    assert_eq!(
        (err.kind(), err.errno()),
        (ErrorKind::InvalidArgument, None)
    );
}

#[test]
fn semget_eacces_for_nobody() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let set = common::keyed_sem(1, 0o600);
    let key = set.key();
    assert_eq!(
        common::run_probe(&IpcProbe::SemOpen { key, mode: 0o400 }, as_nobody()).result(),
        "PermissionDenied"
    );
    assert_eq!(
        common::run_probe(&IpcProbe::SemOpen { key, mode: 0o200 }, as_nobody()).result(),
        "PermissionDenied"
    );
}

#[test]
fn semget_enospc_at_semmni_in_a_private_ipc_namespace() {
    if common::skip_unless_root("make an IPC namespace") {
        return;
    }
    let opts = ProbeOptions {
        new_ipc_namespace: true,
        ..ProbeOptions::default()
    };
    assert_eq!(
        common::run_probe(&IpcProbe::SemCreateUntilRefused { semmni: 4 }, opts).result(),
        "LimitExceeded after 4"
    );
}

// ---- semop01, semop02 ----

#[test]
fn semop_applies_a_batch_atomically() {
    let set = private_set(3);
    set.set_values(&[1, 0, 5]).unwrap();
    set.op(&[SemOp::new(0, -1), SemOp::new(1, 2), SemOp::new(2, -5)])
        .unwrap();
    assert_eq!(set.values().unwrap(), vec![0, 2, 0]);
    // All or nothing: the second op cannot proceed, so the first is not applied either.
    let err = set
        .op(&[SemOp::new(1, -1), SemOp::new(0, -1).no_wait()])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert_eq!(set.values().unwrap(), vec![0, 2, 0]);
    assert_eq!(set.last_pid(2).unwrap() as u32, std::process::id());
    assert!(set.stat().unwrap().otime > 0);
}

#[test]
fn semop_e2big_for_more_than_semopm_operations() {
    let set = private_set(1);
    let n = sem_limits().semopm as usize + 1;
    let ops = vec![SemOp::new(0, 1); n];
    assert_eq!(set.op(&ops).unwrap_err().kind(), ErrorKind::TooBig);
}

#[test]
fn semop_einval_for_no_operations_or_a_bad_id() {
    let set = private_set(1);
    assert_eq!(set.op(&[]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    set.remove().unwrap();
    assert_eq!(
        set.op(&[SemOp::new(0, 1)]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn semop_erange_past_semvmx_and_efbig_past_the_last_semaphore() {
    let set = private_set(2);
    let vmx = sem_limits().semvmx as u16;
    set.set_value(0, vmx).unwrap();
    assert_eq!(
        set.op(&[SemOp::new(0, 1)]).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
    let err = set.op(&[SemOp::new(2, 1)]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IndexOutOfRange);
    assert_eq!(
        set.op(&[SemOp::new(u16::MAX, 1)]).unwrap_err().kind(),
        ErrorKind::IndexOutOfRange
    );
}

#[test]
fn semop_eagain_with_no_wait_for_decrement_and_for_zero() {
    let set = private_set(1);
    assert_eq!(
        set.op(&[SemOp::new(0, -1).no_wait()]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    set.set_value(0, 1).unwrap();
    assert_eq!(
        set.op(&[SemOp::wait_zero(0).no_wait()]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    set.op(&[SemOp::new(0, -1).no_wait()]).unwrap();
    set.op(&[SemOp::wait_zero(0).no_wait()]).unwrap();
}

#[test]
fn semop_eacces_for_nobody() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let set = common::keyed_sem(1, 0o600);
    assert_eq!(
        common::run_probe(
            &IpcProbe::SemOperate {
                key: set.key(),
                num: 0,
                delta: 1
            },
            as_nobody()
        )
        .result(),
        "PermissionDenied"
    );
}

#[test]
fn semtimedop_times_out_with_a_typed_error() {
    let set = private_set(1);
    let err = set
        .op_timeout(&[SemOp::new(0, -1)], Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert_eq!(set.value(0).unwrap(), 0);
    // With the value there, the timed op succeeds at once; a zero timeout too.
    set.set_value(0, 2).unwrap();
    set.op_timeout(&[SemOp::new(0, -1)], Duration::from_secs(60))
        .unwrap();
    set.op_timeout(&[SemOp::new(0, -1)], Duration::ZERO)
        .unwrap();
    assert_eq!(set.value(0).unwrap(), 0);
    // A no-wait op that cannot proceed is WouldBlock, not TimedOut.
    let err = set
        .op_timeout(&[SemOp::new(0, -1).no_wait()], Duration::from_secs(60))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
}

// ---- semop03: EIDRM and EINTR while blocked ----

#[test]
fn removing_a_set_wakes_a_blocked_process_with_removed() {
    let set = common::keyed_sem(1, 0o600);
    let waiter = common::spawn_probe(
        &IpcProbe::SemWait { key: set.key() },
        ProbeOptions::default(),
    );
    common::wait_until("the waiter to block", || {
        set.waiting_for_increase(0).unwrap() == 1
    });
    set.remove().unwrap();
    assert_eq!(waiter.finish(), "Removed");
}

#[test]
fn a_signal_interrupts_a_blocked_semop_with_interrupted() {
    let set = common::keyed_sem(1, 0o600);
    let waiter = common::spawn_probe(
        &IpcProbe::SemWaitInterruptible { key: set.key() },
        ProbeOptions::default(),
    );
    common::wait_until("the waiter to block", || {
        set.waiting_for_increase(0).unwrap() == 1
    });
    // Signal the very thread that is blocked (glibc's semop is the semtimedop syscall): a
    // signal to the process could be taken by another of its threads.
    let pid = waiter.child.id();
    let tid = common::thread_in_syscall(pid, libc::SYS_semtimedop).expect("a thread in semtimedop");
    // SAFETY: tgkill takes plain integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            pid as libc::c_long,
            tid as libc::c_long,
            libc::SIGUSR1,
        )
    };
    assert_eq!(rc, 0);
    assert_eq!(waiter.finish(), "Interrupted");
    assert_eq!(set.waiting_for_increase(0).unwrap(), 0);
}

// ---- semctl01..09 ----

#[test]
fn semctl_every_command() {
    let set = common::keyed_sem(3, 0o640);
    let s = set.stat().unwrap();
    assert_eq!(
        (s.key, s.id, s.nsems, s.mode),
        (set.key(), set.id(), 3, 0o640)
    );
    assert_eq!(
        (s.uid, s.cuid),
        (shmkit::info::effective_uid(), shmkit::info::effective_uid())
    );
    assert_eq!(s.otime, 0);
    assert!(s.ctime > 0);
    set.set_value(1, 7).unwrap(); // SETVAL
    assert_eq!(set.value(1).unwrap(), 7); // GETVAL
    set.set_values(&[1, 2, 3]).unwrap(); // SETALL
    assert_eq!(set.values().unwrap(), vec![1, 2, 3]); // GETALL
    assert_eq!(
        set.set_values(&[1, 2]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    set.op(&[SemOp::new(0, -1)]).unwrap();
    assert_eq!(set.last_pid(0).unwrap() as u32, std::process::id()); // GETPID
    assert_eq!(set.waiting_for_increase(0).unwrap(), 0); // GETNCNT
    assert_eq!(set.waiting_for_zero(1).unwrap(), 0); // GETZCNT
    set.set_mode(0o600).unwrap(); // IPC_SET
    assert_eq!(set.stat().unwrap().mode, 0o600);
    assert_eq!(set.value(3).unwrap_err().kind(), ErrorKind::InvalidArgument);
    set.remove().unwrap(); // IPC_RMID
    assert_eq!(set.stat().unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn semctl_setval_wakes_a_process_waiting_to_decrement() {
    // GETNCNT counts the waiter, GETZCNT does not; SETVAL lets it proceed.
    let set = common::keyed_sem(1, 0o600);
    let waiter = common::spawn_probe(
        &IpcProbe::SemWait { key: set.key() },
        ProbeOptions::default(),
    );
    common::wait_until("the waiter to block", || {
        set.waiting_for_increase(0).unwrap() == 1
    });
    assert_eq!(set.waiting_for_zero(0).unwrap(), 0);
    set.set_value(0, 1).unwrap();
    assert_eq!(waiter.finish(), "ok");
    assert_eq!(set.value(0).unwrap(), 0);
}

#[test]
fn semctl_erange_for_values_past_semvmx() {
    let set = private_set(2);
    let over = sem_limits().semvmx as u16 + 1;
    assert_eq!(
        set.set_value(0, over).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
    assert_eq!(
        set.set_values(&[0, over]).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
}

#[test]
fn semctl_einval_for_a_bad_id() {
    let err = SemaphoreSet::from_id(shmkit::SemId::from_raw(i32::MAX)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn semctl_eacces_and_eperm_for_nobody() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let set = common::keyed_sem(1, 0o600);
    let key = set.key();
    assert_eq!(
        common::run_probe(&IpcProbe::SemGetValue { key }, as_nobody()).result(),
        "PermissionDenied"
    );
    set.set_mode(0o666).unwrap();
    assert_eq!(
        common::run_probe(&IpcProbe::SemGetValue { key }, as_nobody()).result(),
        "ok 0"
    );
    assert_eq!(
        common::run_probe(&IpcProbe::SemRemove { key }, as_nobody()).result(),
        "NotPermitted"
    );
    assert_eq!(
        common::run_probe(&IpcProbe::SemSetMode { key }, as_nobody()).result(),
        "NotPermitted"
    );
    assert!(set.stat().is_ok());
}

// ---- SEM_UNDO ----

#[test]
fn sem_undo_releases_the_lock_of_a_holder_killed_200_times() {
    let set = common::keyed_sem(1, 0o600);
    let lock = SemLock::new((*set).clone(), 0);
    lock.init().unwrap();
    for round in 0..200 {
        let holder = common::spawn_probe(
            &IpcProbe::SemHold { key: set.key() },
            ProbeOptions::default(),
        );
        let mut holder = holder;
        assert_eq!(holder.next_result(), "holding", "round {round}");
        assert_eq!(set.value(0).unwrap(), 0, "round {round}: held");
        let status = holder.kill(); // SIGKILL, then waitpid
        assert!(!status.success());
        assert_eq!(
            set.value(0).unwrap(),
            1,
            "round {round}: not restored by the time waitpid returned"
        );
    }
    // And the lock still works in this process.
    let guard = lock.try_lock().unwrap().expect("free");
    assert!(lock.try_lock().unwrap().is_none());
    guard.unlock().unwrap();
    assert_eq!(set.value(0).unwrap(), 1);
}

#[test]
fn the_32768th_undo_adjustment_is_a_typed_error() {
    let set = common::keyed_sem(1, 0o600);
    let r = common::run_probe(
        &IpcProbe::SemUndoLimit { key: set.key() },
        ProbeOptions::default(),
    );
    // semadj and semval are both capped at SEMVMX = 32767: the 32768th +1 is refused.
    assert_eq!(r.result(), "OutOfRange after 32767");
    // The child exited: its undo adjustments brought the value back to 0.
    assert_eq!(set.value(0).unwrap(), 0);
}

#[test]
fn sem_lock_times_out_while_held() {
    let set = private_set(1);
    let lock = SemLock::new((*set).clone(), 0);
    lock.init().unwrap();
    let held = lock.lock().unwrap();
    assert_eq!(
        lock.lock_timeout(Duration::from_millis(10))
            .unwrap_err()
            .kind(),
        ErrorKind::TimedOut
    );
    drop(held);
    lock.lock_timeout(Duration::from_secs(60))
        .unwrap()
        .unlock()
        .unwrap();
}

#[test]
fn open_or_create_refuses_squatted_sets() {
    let set = common::keyed_sem(2, 0o666);
    let err = SemaphoreSet::builder(set.key())
        .count(2)
        .mode(0o600)
        .open_or_create()
        .unwrap_err();
    assert!(matches!(
        err.squatting_reason(),
        Some(shmkit::Squatting::WiderMode {
            mode: 0o666,
            asked: 0o600
        })
    ));
    let err = SemaphoreSet::builder(set.key())
        .count(3)
        .mode(0o666)
        .open_or_create()
        .unwrap_err();
    assert!(matches!(
        err.squatting_reason(),
        Some(shmkit::Squatting::SizeMismatch { size: 2, asked: 3 })
    ));
    let ok = SemaphoreSet::builder(set.key())
        .count(2)
        .mode(0o666)
        .open_or_create()
        .unwrap();
    assert!(!ok.created());
    assert_eq!(ok.id(), set.id());
}

#[test]
fn listing_and_limits() {
    let set = common::keyed_sem(4, 0o640);
    set.op(&[SemOp::new(0, 1)]).unwrap();
    let stat = set.stat().unwrap();
    for rows in [
        shmkit::info::semaphore_sets().unwrap(),
        shmkit::info::semaphore_sets_from_syscalls().unwrap(),
    ] {
        assert_eq!(rows.iter().find(|r| r.id == set.id()), Some(&stat));
    }
    let limits = sem_limits();
    let proc: Vec<u64> = std::fs::read_to_string("/proc/sys/kernel/sem")
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(
        vec![limits.semmsl, limits.semmns, limits.semopm, limits.semmni],
        proc
    );
    assert_eq!(limits.semvmx, 32767);
    let usage = shmkit::info::sem_usage().unwrap();
    assert!(usage.sets >= 1 && usage.semaphores >= 4);
}
