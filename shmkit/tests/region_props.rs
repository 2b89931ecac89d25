//! Property tests: any offset and length given to `read_at`/`write_at` on a real segment
//! gives data or an error, never a panic, and the data round-trips.

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use shmkit::ErrorKind;

/// Offsets and lengths that straddle the interesting edges: 0, the end, word boundaries,
/// and huge values that overflow `offset + len`.
fn edgy(size: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        0..size + 16,
        size - 16..size + 16,
        Just(usize::MAX),
        (usize::MAX - 64)..=usize::MAX,
        any::<usize>(),
    ]
}

#[test]
fn any_offset_and_length_gives_data_or_an_error() {
    const SIZE: usize = 4096 + 13; // not a multiple of the word or page size
    let seg = common::private_segment(SIZE);
    let rw = seg.attach().unwrap();
    let ro = seg.attach_read_only().unwrap();
    assert_eq!(rw.len(), SIZE);
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        ..Config::default()
    });
    runner
        .run(
            &(edgy(SIZE), edgy(SIZE), any::<u8>()),
            |(offset, len, seed)| {
                let fits = offset.checked_add(len).is_some_and(|end| end <= SIZE);
                // Never allocate absurd buffers: an out-of-range length is checked before use.
                let buf_len = if fits { len } else { len.min(SIZE + 64) };
                let data: Vec<u8> = (0..buf_len)
                    .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
                    .collect();
                let w = rw.write_at(offset, &data);
                let buf_fits = offset.checked_add(buf_len).is_some_and(|end| end <= SIZE);
                prop_assert_eq!(w.is_ok(), buf_fits);
                if let Err(e) = &w {
                    prop_assert_eq!(e.kind(), ErrorKind::OutOfBounds);
                }
                let mut back = vec![0u8; buf_len];
                let r = ro.read_at(offset, &mut back);
                prop_assert_eq!(r.is_ok(), buf_fits);
                if buf_fits {
                    prop_assert_eq!(&back, &data);
                }
                match rw.read_vec(offset, len) {
                    Ok(v) => {
                        prop_assert!(fits);
                        prop_assert_eq!(v.len(), len);
                    }
                    Err(e) => {
                        prop_assert!(!fits);
                        prop_assert_eq!(e.kind(), ErrorKind::OutOfBounds);
                    }
                }
                for (view, size) in [
                    (
                        ro.load_u32(offset, std::sync::atomic::Ordering::Relaxed)
                            .map(u64::from),
                        4usize,
                    ),
                    (ro.load_u64(offset, std::sync::atomic::Ordering::Relaxed), 8),
                ] {
                    let in_bounds = offset.checked_add(size).is_some_and(|end| end <= SIZE);
                    match view {
                        Ok(_) => prop_assert!(in_bounds && offset % size == 0),
                        Err(e) => prop_assert!(
                            (!in_bounds && e.kind() == ErrorKind::OutOfBounds)
                                || (in_bounds && e.kind() == ErrorKind::Misaligned)
                        ),
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}
