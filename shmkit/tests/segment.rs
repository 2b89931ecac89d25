//! Segment behaviour with real kernel objects: removal while attached, attachments sharing
//! memory, open-or-create and its squatting defence, and the system listing.

mod common;

use common::{IpcProbe, ProbeOptions, NOBODY};
use shmkit::{ErrorKind, Key, Segment, Squatting};
use std::sync::atomic::Ordering;

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<IpcProbe>();
}

#[test]
fn removed_while_attached_keeps_working_goes_private_and_shows_dest() {
    let seg = common::keyed_segment(4096, 0o600);
    let key = seg.key();
    let map = seg.attach().unwrap();
    map.write_at(100, b"before").unwrap();
    seg.remove().unwrap();

    let s = seg.stat().unwrap();
    assert!(s.dest);
    assert_eq!(s.key, Key::PRIVATE);
    assert_eq!(s.nattch, 1);
    // The mapping still works, in both directions.
    map.write_at(0, b"after").unwrap();
    assert_eq!(map.read_vec(0, 5).unwrap(), b"after");
    assert_eq!(map.read_vec(100, 6).unwrap(), b"before");
    // The key is free again: it names nothing, and can name a new segment.
    assert_eq!(Segment::open(key).unwrap_err().kind(), ErrorKind::NotFound);
    let again = Segment::create(key, 4096).unwrap().remove_on_drop();
    assert_ne!(again.id(), seg.id());
    // The listing shows the dest segment too.
    let row = shmkit::info::segments()
        .unwrap()
        .into_iter()
        .find(|r| r.id == seg.id())
        .unwrap();
    assert!(row.dest && row.key.is_private());
    // Detaching the last attachment destroys it.
    drop(map);
    assert_eq!(seg.stat().unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn two_attachments_see_the_same_memory() {
    let seg = common::private_segment(8192);
    let a = seg.attach().unwrap();
    let b = seg.attach().unwrap();
    assert_ne!(a.address(), b.address());
    a.write_at(8000, b"shared").unwrap();
    assert_eq!(b.read_vec(8000, 6).unwrap(), b"shared");
    a.atomic_u64(64).unwrap().store(0xfeed, Ordering::Release);
    assert_eq!(
        b.atomic_u64(64).unwrap().fetch_add(1, Ordering::AcqRel),
        0xfeed
    );
    assert_eq!(a.load_u64(64, Ordering::Acquire).unwrap(), 0xfeee);
}

#[test]
fn a_new_segment_is_zeroed_and_sized_as_asked() {
    let seg = common::private_segment(5000);
    let map = seg.attach_read_only().unwrap();
    assert_eq!(map.len(), 5000);
    assert!(map.read_vec(0, 5000).unwrap().iter().all(|&b| b == 0));
    assert_eq!(
        map.read_vec(4999, 2).unwrap_err().kind(),
        ErrorKind::OutOfBounds
    );
}

#[test]
fn detach_reports_success() {
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    assert_eq!(seg.stat().unwrap().nattch, 1);
    map.detach().unwrap();
    assert_eq!(seg.stat().unwrap().nattch, 0);
}

#[test]
fn open_or_create_creates_then_opens_its_own_segment() {
    let key = {
        let probe = common::keyed_segment(4096, 0o600);
        probe.key()
    };
    let first = Segment::open_or_create(key, 4096).unwrap().remove_on_drop();
    assert!(first.created());
    let second = Segment::open_or_create(key, 4096).unwrap();
    assert!(!second.created());
    assert_eq!(second.id(), first.id());
}

#[test]
fn open_or_create_refuses_a_wider_mode() {
    let seg = common::keyed_segment(4096, 0o666);
    let err = Segment::builder(seg.key())
        .size(4096)
        .mode(0o600)
        .open_or_create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Squatting);
    assert_eq!(
        err.squatting_reason(),
        Some(Squatting::WiderMode {
            mode: 0o666,
            asked: 0o600
        })
    );
    assert!(err.to_string().contains("0666"), "{err}");
    let ok = Segment::builder(seg.key())
        .size(4096)
        .mode(0o600)
        .trust_wider_mode()
        .open_or_create();
    assert_eq!(ok.unwrap().id(), seg.id());
    // A narrower existing mode is fine.
    seg.set_mode(0o400).unwrap();
    assert!(Segment::builder(seg.key())
        .size(4096)
        .mode(0o600)
        .open_or_create()
        .is_ok());
}

#[test]
fn open_or_create_refuses_another_size() {
    let seg = common::keyed_segment(4096, 0o600);
    let err = Segment::open_or_create(seg.key(), 100).unwrap_err();
    assert_eq!(
        err.squatting_reason(),
        Some(Squatting::SizeMismatch {
            size: 4096,
            asked: 100
        })
    );
    let err = Segment::open_or_create(seg.key(), 8192).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Squatting);
    let ok = Segment::builder(seg.key())
        .size(100)
        .trust_size_mismatch()
        .open_or_create();
    assert_eq!(ok.unwrap().id(), seg.id());
    // Trusting the size still lets the kernel refuse a segment smaller than asked for.
    let err = Segment::builder(seg.key())
        .size(8192)
        .trust_size_mismatch()
        .open_or_create();
    assert_eq!(err.unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn open_or_create_refuses_a_segment_squatted_by_another_user() {
    if common::skip_unless_root("create a segment as nobody") {
        return;
    }
    let key = common::random_key();
    let r = common::run_probe(
        &IpcProbe::ShmCreate {
            key,
            size: 4096,
            mode: 0o666,
        },
        ProbeOptions {
            as_user: Some(NOBODY),
            ..ProbeOptions::default()
        },
    );
    // Guard whatever the child made before looking at what it said.
    let squatted = Segment::open(key).map(Segment::remove_on_drop);
    assert_eq!(
        r.result(),
        format!("ok {}", squatted.as_ref().unwrap().id())
    );
    let squatted = squatted.unwrap();
    let err = Segment::builder(key)
        .size(4096)
        .mode(0o666)
        .open_or_create()
        .unwrap_err();
    assert_eq!(
        err.squatting_reason(),
        Some(Squatting::OtherOwner {
            uid: NOBODY,
            cuid: NOBODY,
            euid: 0
        })
    );
    // Handing the segment over does not help: the creator keeps control of it.
    squatted.set_owner(0, 0).unwrap();
    let err = Segment::builder(key)
        .size(4096)
        .mode(0o666)
        .open_or_create()
        .unwrap_err();
    assert!(matches!(
        err.squatting_reason(),
        Some(Squatting::OtherOwner {
            uid: 0,
            cuid: NOBODY,
            ..
        })
    ));
    let ok = Segment::builder(key)
        .size(4096)
        .mode(0o600)
        .trust_existing()
        .open_or_create();
    assert_eq!(ok.unwrap().id(), squatted.id());
}

#[test]
fn listing_finds_what_was_created_with_the_right_fields() {
    let seg = common::keyed_segment(12_345, 0o640);
    let _map = seg.attach().unwrap();
    let stat = seg.stat().unwrap();
    let from_proc = shmkit::info::segments().unwrap();
    let from_syscalls = shmkit::info::segments_from_syscalls().unwrap();
    for rows in [&from_proc, &from_syscalls] {
        let mut row = rows
            .iter()
            .find(|r| r.id == seg.id())
            .expect("listed")
            .clone();
        row.rss = None;
        row.swap = None;
        assert_eq!(row, stat);
    }
    let row = from_proc.iter().find(|r| r.id == seg.id()).unwrap();
    assert_eq!(
        (row.key, row.size, row.mode, row.nattch),
        (seg.key(), 12_345, 0o640, 1)
    );
    assert!(row.rss.is_some() && row.swap.is_some());
    let row = from_syscalls.iter().find(|r| r.id == seg.id()).unwrap();
    assert!(row.rss.is_none() && row.swap.is_none());
    // Both sources list the same ids (segments other tests make or remove meanwhile aside,
    // ours is in both).
    let usage = shmkit::info::shm_usage().unwrap();
    assert!(usage.segments >= 1 && usage.max_index >= 0);
}

#[test]
fn limits_match_proc_sys_kernel() {
    let limits = shmkit::info::shm_limits().unwrap();
    let read = |name: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(limits.shmmax, read("shmmax"));
    assert_eq!(limits.shmall, read("shmall"));
    assert_eq!(limits.shmmni, read("shmmni"));
    assert_eq!(limits.shmmin, 1);
    assert_eq!(limits.shmseg, limits.shmmni);
}

#[test]
fn no_reserve_segments_work() {
    let seg = Segment::builder(Key::PRIVATE)
        .size(1 << 20)
        .no_reserve()
        .create()
        .unwrap()
        .remove_on_drop();
    let map = seg.attach().unwrap();
    map.write_at((1 << 20) - 1, &[7]).unwrap();
    assert_eq!(map.read_vec((1 << 20) - 1, 1).unwrap(), [7]);
}

#[test]
fn errors_name_the_call_the_object_and_the_errno() {
    let err = Segment::create(Key::from_raw(0x7fff_fffe), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shmget(key=0x7ffffffe, size=0): invalid argument (EINVAL)"
    );
    assert_eq!(err.call(), "shmget");
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    assert!(io.to_string().contains("EINVAL"));
}

#[test]
fn listing_from_proc_and_from_syscalls_agree_exactly_in_a_private_namespace() {
    if common::skip_unless_root("make an IPC namespace") {
        return;
    }
    let r = common::run_probe(
        &IpcProbe::NamespaceListing,
        ProbeOptions {
            new_ipc_namespace: true,
            ..ProbeOptions::default()
        },
    );
    // Sorted by id: a (id 40000), then b and c in creation order... whatever their ids,
    // exactly one is locked and one is dest.
    let result = r.result();
    assert!(result.starts_with("ok 3 "), "{result}");
    assert_eq!(result.matches("(true, false)").count(), 1, "{result}");
    assert_eq!(result.matches("(false, true)").count(), 1, "{result}");
}

#[test]
fn open_or_create_names_a_squatter_it_cannot_even_stat() {
    // Root makes a mode-0 segment under the key; nobody, the victim, asks for it with
    // open-or-create: EACCES from the kernel, reported as the squatting it is.
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let seg = common::keyed_segment(4096, 0o000);
    let r = common::run_probe(
        &IpcProbe::ShmOpenOrCreate {
            key: seg.key(),
            size: 4096,
            mode: 0o600,
        },
        ProbeOptions {
            as_user: Some(NOBODY),
            ..ProbeOptions::default()
        },
    );
    assert_eq!(
        r.result(),
        format!("Squatting OtherOwner {{ uid: 0, cuid: 0, euid: {NOBODY} }}")
    );
}

#[test]
fn a_guard_knows_a_removed_segment_is_gone() {
    use shmkit::{Identity, Removable};
    let seg = common::private_segment(4096);
    let me = (std::process::id() as i32, shmkit::info::effective_uid());
    assert_eq!(seg.identity(), Identity::Known(me.0, me.1, 4096));
    let map = seg.attach().unwrap();
    seg.remove().unwrap();
    // Marked for removal: a guard will not call IPC_RMID on this id again, so it cannot hit
    // a segment that reuses the id later.
    assert_eq!(seg.identity(), Identity::Gone);
    drop(map);
    assert_eq!(seg.identity(), Identity::Gone);
}
