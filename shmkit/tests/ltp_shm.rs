//! The Linux Test Project's error table for shmget/shmat/shmdt/shmctl
//! (`runtest/syscalls-ipc`), each case surfacing as its typed error. Cases that need another
//! user run in a child process dropped to `nobody`; they need root and say so when skipped.

mod common;

use common::{IpcProbe, ProbeOptions, NOBODY};
use shmkit::{AttachOptions, ErrorKind, HugePageSize, Key, Segment};

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

// ---- shmget02, shmget04 ----

#[test]
fn shmget_enoent_for_an_absent_key() {
    // A fresh random key that we make sure is free by creating and removing it.
    let seg = common::keyed_segment(4096, 0o600);
    let key = seg.key();
    drop(seg);
    let err = Segment::open(key).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert!(
        err.to_string().starts_with(&format!("shmget(key={key}")),
        "{err}"
    );
}

#[test]
fn shmget_eexist_for_an_exclusive_create_of_an_existing_key() {
    let seg = common::keyed_segment(4096, 0o600);
    let err = Segment::create(seg.key(), 4096).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
}

#[test]
fn shmget_einval_for_size_below_shmmin() {
    let err = Segment::create(Key::PRIVATE, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn shmget_einval_for_size_above_shmmax() {
    let limits = shmkit::info::shm_limits().unwrap();
    let size = usize::try_from(limits.shmmax).unwrap().saturating_add(1);
    assert!(size as u64 > limits.shmmax, "shmmax is already usize::MAX");
    let err = Segment::create(Key::PRIVATE, size).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn shmget_einval_for_a_size_larger_than_the_existing_segment() {
    let seg = common::keyed_segment(4096, 0o600);
    let err = Segment::builder(seg.key()).size(8192).open().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // A smaller or equal size is fine.
    assert_eq!(
        Segment::builder(seg.key()).size(100).open().unwrap().id(),
        seg.id()
    );
}

#[test]
fn shmget_invalid_mode_is_refused_before_the_kernel_sees_it() {
    // 0o1600 would smuggle IPC_CREAT into the flags.
    let err = Segment::builder(Key::PRIVATE)
        .size(4096)
        .mode(0o1600)
        .create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.errno(), None);
}

#[test]
fn shmget_eacces_for_nobody_asking_read_or_write_on_a_mode_0_segment() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let seg = common::keyed_segment(4096, 0o000);
    for (mode, expect) in [
        (0o400, "PermissionDenied"),
        (0o200, "PermissionDenied"),
        (0o600, "PermissionDenied"),
    ] {
        let open = IpcProbe::ShmOpen {
            key: seg.key(),
            size: 0,
            mode,
        };
        let r = common::run_probe(&open, as_nobody());
        assert_eq!(r.result(), expect, "SHM_R/SHM_W bits {mode:o}");
    }
    // Without a permission request the open itself succeeds, as in C.
    let open = IpcProbe::ShmOpen {
        key: seg.key(),
        size: 0,
        mode: 0,
    };
    let r = common::run_probe(&open, as_nobody());
    assert_eq!(r.result(), "ok");
}

#[test]
fn shmget_eperm_for_huge_pages_without_the_right() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let r = common::run_probe(
        &IpcProbe::ShmCreateHuge { size: 2097152 },
        ProbeOptions {
            as_user: Some(NOBODY),
            no_memlock: true,
            ..ProbeOptions::default()
        },
    );
    assert_eq!(r.result(), "NotPermitted");
}

#[test]
fn shmget_huge_pages_enomem_without_free_pages_or_success_with_them() {
    let read = |name: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/sys/vm/{name}"))
            .map(|s| s.trim().parse().unwrap_or(0))
            .unwrap_or(0)
    };
    let pages = read("nr_hugepages") + read("nr_overcommit_hugepages");
    let r = Segment::builder(Key::PRIVATE)
        .size(2 << 20)
        .huge_pages(HugePageSize::Size2MiB)
        .create()
        .map(Segment::remove_on_drop);
    match r {
        Ok(seg) => {
            assert!(
                pages > 0,
                "created a huge-page segment with vm.nr_hugepages = 0"
            );
            assert_eq!(seg.stat().unwrap().size, 2 << 20);
        }
        Err(e) if pages == 0 => assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}"),
        Err(e) if !common::is_root() => assert_eq!(e.kind(), ErrorKind::NotPermitted, "{e}"),
        Err(e) => panic!("{pages} huge pages configured, yet: {e}"),
    }
}

// ---- shmget03 ----

#[test]
fn shmget_enospc_at_shmmni_in_a_private_ipc_namespace() {
    if common::skip_unless_root("make an IPC namespace and set its shmmni") {
        return;
    }
    let r = common::run_probe(
        &IpcProbe::ShmCreateUntilRefused { shmmni: 5 },
        ProbeOptions {
            new_ipc_namespace: true,
            ..ProbeOptions::default()
        },
    );
    assert_eq!(r.result(), "LimitExceeded after 5");
}

// ---- shmat01, shmat02 ----

#[test]
fn shmat_einval_for_a_removed_segment() {
    let seg = common::private_segment(4096);
    seg.remove().unwrap();
    let err = seg.attach().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.to_string()
            .starts_with(&format!("shmat(shmid={}", seg.id())),
        "{err}"
    );
}

#[test]
fn shmat_einval_for_an_unaligned_address_without_shm_rnd() {
    let seg = common::private_segment(4096);
    let addr = seg.attach().unwrap().address(); // a free, page-aligned place (just detached)
    let err = seg
        .attach_with(AttachOptions::new().address(addr + 1))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn shmat_rounds_an_unaligned_address_down_with_shm_rnd() {
    let seg = common::private_segment(4096);
    let shmlba = shmkit::info::page_size(); // SHMLBA is the page size on x86-64
                                            // Another test thread may map something at the probed address in between: retry.
    for _ in 0..10 {
        let addr = seg.attach().unwrap().address();
        if let Ok(map) = seg.attach_with(AttachOptions::new().address(addr + 123).round_down()) {
            assert_eq!(map.address(), addr);
            assert_eq!(map.address() % shmlba, 0);
            return;
        }
    }
    panic!("the rounded address was taken 10 times in a row");
}

#[test]
fn shmat_never_replaces_an_existing_mapping() {
    // shmt: an attach over an existing attachment fails instead of remapping it.
    let seg = common::private_segment(4096);
    let first = seg.attach().unwrap();
    first.write_at(0, b"keep").unwrap();
    let err = seg
        .attach_with(AttachOptions::new().address(first.address()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(first.read_vec(0, 4).unwrap(), b"keep");
    assert_eq!(seg.stat().unwrap().nattch, 1);
}

#[test]
fn shmat_eacces_for_nobody() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let seg = common::keyed_segment(4096, 0o600);
    let key = seg.key();
    assert_eq!(
        common::run_probe(&IpcProbe::ShmAttach { key }, as_nobody()).result(),
        "PermissionDenied"
    );
    assert_eq!(
        common::run_probe(&IpcProbe::ShmAttachReadOnly { key }, as_nobody()).result(),
        "PermissionDenied"
    );
    // Read permission for others: read-only attach works, read-write does not.
    seg.set_mode(0o604).unwrap();
    assert_eq!(
        common::run_probe(&IpcProbe::ShmAttachReadOnly { key }, as_nobody()).result(),
        "ok"
    );
    assert_eq!(
        common::run_probe(&IpcProbe::ShmAttach { key }, as_nobody()).result(),
        "PermissionDenied"
    );
}

#[test]
fn shmat_read_only_write_dies_with_sigsegv() {
    let seg = common::keyed_segment(4096, 0o600);
    let r = common::run_probe(
        &IpcProbe::ShmWriteReadOnly { key: seg.key() },
        ProbeOptions::default(),
    );
    assert_eq!(r.result(), "attached");
    assert_eq!(r.signal(), Some(libc::SIGSEGV), "{:?}", r.output.status);
    assert_eq!(
        seg.attach()
            .unwrap()
            .load_u32(0, std::sync::atomic::Ordering::Relaxed)
            .unwrap(),
        0
    );
}

// ---- shmdt01 ----

#[test]
fn shmdt_write_after_detach_dies_with_sigsegv_and_nattch_is_zero() {
    let seg = common::keyed_segment(4096, 0o600);
    let r = common::run_probe(
        &IpcProbe::ShmWriteAfterDetach { key: seg.key() },
        ProbeOptions::default(),
    );
    assert_eq!(r.result(), "detached");
    assert_eq!(r.signal(), Some(libc::SIGSEGV));
    assert_eq!(seg.stat().unwrap().nattch, 0);
}

// ---- shmctl01, shmctl02, shmctl07, shmctl08 ----

#[test]
fn shmctl_einval_for_a_removed_id() {
    let seg = common::private_segment(4096);
    seg.remove().unwrap();
    assert_eq!(seg.stat().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(seg.remove().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        seg.set_mode(0o600).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        Segment::from_id(seg.id()).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn shmctl_einval_for_an_id_that_never_existed() {
    let err = Segment::from_id(shmkit::ShmId::from_raw(i32::MAX)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = Segment::from_id(shmkit::ShmId::from_raw(-1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn shmctl_eacces_for_nobody_stating_roots_segment() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let seg = common::keyed_segment(4096, 0o600);
    assert_eq!(
        common::run_probe(&IpcProbe::ShmStat { key: seg.key() }, as_nobody()).result(),
        "PermissionDenied"
    );
}

#[test]
fn shmctl_eperm_for_nobody_removing_setting_or_locking_roots_segment() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let seg = common::keyed_segment(4096, 0o666);
    let key = seg.key();
    for op in [
        IpcProbe::ShmRemove { key },
        IpcProbe::ShmSetMode { key },
        IpcProbe::ShmSetOwner { key },
        IpcProbe::ShmLock { key },
        IpcProbe::ShmUnlock { key },
    ] {
        assert_eq!(
            common::run_probe(&op, as_nobody()).result(),
            "NotPermitted",
            "{op:?}"
        );
    }
    let stat = seg.stat().unwrap();
    assert_eq!(
        (stat.mode, stat.uid, stat.dest, stat.locked),
        (0o666, 0, false, false)
    );
}

#[test]
fn shmctl_stat_fields_and_nattch_across_attachments() {
    let seg = common::keyed_segment(10_000, 0o640);
    let s = seg.stat().unwrap();
    assert_eq!(s.key, seg.key());
    assert_eq!(s.id, seg.id());
    assert_eq!(s.size, 10_000);
    assert_eq!(s.mode, 0o640);
    assert_eq!(s.uid, shmkit::info::effective_uid());
    assert_eq!(s.cuid, s.uid);
    assert_eq!(s.cpid as u32, std::process::id());
    assert_eq!((s.nattch, s.atime, s.dtime), (0, 0, 0));
    assert!(s.ctime > 0);
    assert!(!s.dest && !s.locked);
    let a = seg.attach().unwrap();
    let b = seg.attach_read_only().unwrap();
    let s = seg.stat().unwrap();
    assert_eq!(s.nattch, 2);
    assert_eq!(s.lpid as u32, std::process::id());
    assert!(s.atime > 0);
    assert_eq!(a.len(), 10_000);
    drop(a);
    let s = seg.stat().unwrap();
    assert_eq!(s.nattch, 1);
    assert!(s.dtime > 0);
    drop(b);
    assert_eq!(seg.stat().unwrap().nattch, 0);
}

#[test]
fn shmctl_ipc_set_changes_mode_and_owner() {
    let seg = common::keyed_segment(4096, 0o600);
    seg.set_mode(0o644).unwrap();
    assert_eq!(seg.stat().unwrap().mode, 0o644);
    assert_eq!(
        seg.set_mode(0o7777).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    if common::is_root() {
        seg.set_owner(NOBODY, NOBODY).unwrap();
        let s = seg.stat().unwrap();
        assert_eq!((s.uid, s.gid, s.cuid, s.mode), (NOBODY, NOBODY, 0, 0o644));
    }
}

#[test]
fn shmctl_ipc_set_works_for_an_owner_without_read_permission() {
    // IPC_SET needs ownership, not read permission: the owner of a mode-0 segment can
    // change its mode although IPC_STAT is denied to it. (Root bypasses permissions, so
    // the probe runs as nobody.)
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let r = common::run_probe(
        &IpcProbe::ShmOwnMode0 { size: 4096 },
        ProbeOptions {
            as_user: Some(NOBODY),
            ..ProbeOptions::default()
        },
    );
    assert_eq!(r.result(), "PermissionDenied ok 640");
}

#[test]
fn shmctl_shm_lock_and_unlock_show_in_the_status() {
    let seg = common::private_segment(4096);
    match seg.lock() {
        Ok(()) => {}
        Err(e) if !common::is_root() => {
            eprintln!("SKIPPED: SHM_LOCK refused without CAP_IPC_LOCK: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    }
    assert!(seg.stat().unwrap().locked);
    let row = shmkit::info::segments()
        .unwrap()
        .into_iter()
        .find(|s| s.id == seg.id())
        .unwrap();
    assert!(row.locked);
    assert_eq!(row.raw_mode() & 0o2000, 0o2000);
    seg.unlock().unwrap();
    assert!(!seg.stat().unwrap().locked);
}
