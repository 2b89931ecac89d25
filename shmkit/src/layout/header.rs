//! The 64-byte header every structure shmkit lays out in a region starts with (the mutex,
//! condition variable, event and seqlock of [`sync`](crate::sync), the rings and queues of
//! [`channel`](crate::channel)), and the checks made when one is created or opened.
//!
//! | offset | size | field                                                        |
//! |-------:|-----:|--------------------------------------------------------------|
//! | 0      | 8    | magic: which structure (`b"shmkMUTX"`, ...)                  |
//! | 8      | 4    | layout version ([`VERSION`])                                 |
//! | 12     | 4    | init state: 0 uninit → 1 initialising → 2 ready (CAS, store) |
//! | 16     | 4    | header size (64)                                             |
//! | 20     | 4    | the structure's total size                                   |
//! | 24     | 4    | payload size (`size_of::<T>()`, 0 if none)                   |
//! | 28     | 4    | payload alignment                                            |
//! | 32     | 8    | creator's pid namespace (inode of `/proc/self/ns/pid`)       |
//! | 40     | 4    | creator's pid (in that namespace)                            |
//! | 44     | 4    | size of the `pthread_mutex_t` inside (0 if none)             |
//! | 48     | 16   | reserved, zero                                               |
//!
//! Values are in the machine's byte order. Opening reads the whole header once into a local
//! copy and compares it with what this build expects; nothing in it is used as an index or a
//! length, so a peer that scribbles over it can only make opening fail.

use crate::error::{Error, ErrorKind, Result};
use crate::region::{Access, ReadWrite, Region};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU32, Ordering};

/// Size of the header.
pub(crate) const HEADER_SIZE: usize = 64;
/// Structures start at addresses that are multiples of this (a cache line).
pub(crate) const ALIGN: usize = 64;
/// The layout version this build writes and accepts.
pub(crate) const VERSION: u32 = 1;

const UNINIT: u32 = 0;
const INITIALISING: u32 = 1;
const READY: u32 = 2;

const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 8;
const OFF_STATE: usize = 12;
const OFF_HEADER_SIZE: usize = 16;
const OFF_TOTAL: usize = 20;
const OFF_PAYLOAD_SIZE: usize = 24;
const OFF_PAYLOAD_ALIGN: usize = 28;
const OFF_PID_NS: usize = 32;
const OFF_CREATOR_PID: usize = 40;
const OFF_LOCK_SIZE: usize = 44;

/// What a structure looks like in this build.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// The structure's name, for error messages.
    pub(crate) what: &'static str,
    pub(crate) magic: [u8; 8],
    /// Total size in bytes, header included.
    pub(crate) size: usize,
    pub(crate) payload_size: usize,
    pub(crate) payload_align: usize,
    pub(crate) lock_size: usize,
}

/// Rounds `n` up to a multiple of `align` (a power of two).
pub(crate) const fn round_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

fn error(kind: ErrorKind, call: &'static str, offset: usize, message: String) -> Error {
    Error::new(kind, call, format!("offset={offset}"), message)
}

/// Checks that `layout.size` bytes at `offset` fit in `region` and start 64-byte aligned.
fn check_place<A: Access>(
    region: &Region<A>,
    offset: usize,
    layout: &Layout,
    call: &'static str,
) -> Result<()> {
    match offset.checked_add(layout.size) {
        Some(end) if end <= region.len() => {}
        _ => {
            return Err(error(
                ErrorKind::OutOfBounds,
                call,
                offset,
                format!(
                    "a {} needs {} bytes, past the end of a region of {} bytes",
                    layout.what,
                    layout.size,
                    region.len()
                ),
            ))
        }
    }
    if (region.as_ptr() as usize).wrapping_add(offset) % ALIGN != 0 {
        return Err(error(
            ErrorKind::Misaligned,
            call,
            offset,
            format!(
                "a {} must start at a multiple of {ALIGN} bytes",
                layout.what
            ),
        ));
    }
    Ok(())
}

/// The inode number of this process's pid namespace (`/proc/self/ns/pid`).
pub(crate) fn pid_namespace() -> Result<u64> {
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| m.ino())
        .map_err(|e| {
            Error::new(
                ErrorKind::Unsupported,
                "stat",
                "/proc/self/ns/pid".into(),
                format!("cannot tell this process's pid namespace: {e}"),
            )
        })
}

/// The init state word of the structure at `offset` (placement already checked).
fn state(region: &Region<ReadWrite>, offset: usize) -> Result<&AtomicU32> {
    region.atomic_u32(offset + OFF_STATE)
}

/// Claims the memory at `offset` for a new structure: checks the place, moves the state
/// word from uninit to initialising, and writes the header fields. The caller initialises
/// the body, then calls [`finish_create`].
///
/// # Errors
/// [`ErrorKind::OutOfBounds`], [`ErrorKind::Misaligned`], or [`ErrorKind::AlreadyExists`]
/// when the state word is not zero (another process created or is creating a structure
/// there, or the memory is not zeroed).
pub(crate) fn begin_create(
    region: &Region<ReadWrite>,
    offset: usize,
    layout: &Layout,
    call: &'static str,
) -> Result<()> {
    check_place(region, offset, layout, call)?;
    let ns = pid_namespace()?;
    // Uninit → initialising: of several processes creating at the same offset, exactly one
    // wins. Acquire pairs with nothing yet (the memory is fresh); it keeps the writes below
    // from being reordered before the claim.
    if let Err(found) = state(region, offset)?.compare_exchange(
        UNINIT,
        INITIALISING,
        Ordering::Acquire,
        Ordering::Relaxed,
    ) {
        return Err(error(
            ErrorKind::AlreadyExists,
            call,
            offset,
            format!(
                "the memory is not free for a new {}: its state word is {found} (0 = uninit, 1 = initialising, 2 = ready)",
                layout.what
            ),
        ));
    }
    let mut h = [0u8; HEADER_SIZE];
    h[OFF_MAGIC..OFF_MAGIC + 8].copy_from_slice(&layout.magic);
    put_u32(&mut h, OFF_VERSION, VERSION);
    put_u32(&mut h, OFF_STATE, INITIALISING);
    put_u32(&mut h, OFF_HEADER_SIZE, HEADER_SIZE as u32);
    put_u32(&mut h, OFF_TOTAL, layout.size as u32);
    put_u32(&mut h, OFF_PAYLOAD_SIZE, layout.payload_size as u32);
    put_u32(&mut h, OFF_PAYLOAD_ALIGN, layout.payload_align as u32);
    h[OFF_PID_NS..OFF_PID_NS + 8].copy_from_slice(&ns.to_ne_bytes());
    put_u32(&mut h, OFF_CREATOR_PID, std::process::id());
    put_u32(&mut h, OFF_LOCK_SIZE, layout.lock_size as u32);
    // Everything but the state word, which stays "initialising" until finish_create.
    region.write_at(offset, &h[..OFF_STATE])?;
    region.write_at(offset + OFF_STATE + 4, &h[OFF_STATE + 4..])?;
    Ok(())
}

/// Gives the memory back after a failed initialisation: state uninit.
pub(crate) fn abandon_create(region: &Region<ReadWrite>, offset: usize) {
    if let Ok(state) = state(region, offset) {
        state.store(UNINIT, Ordering::Release);
    }
}

/// Publishes a structure whose body is initialised: state ready.
pub(crate) fn finish_create(region: &Region<ReadWrite>, offset: usize) -> Result<()> {
    // Release: a process that loads "ready" with Acquire sees the header and the body.
    state(region, offset)?.store(READY, Ordering::Release);
    Ok(())
}

fn put_u32(h: &mut [u8], at: usize, v: u32) {
    h[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn get_u32(h: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&h[at..at + 4]);
    u32::from_ne_bytes(b)
}

/// Validates the structure at `offset`: placement, init state, magic, version, sizes, and
/// the pid namespace.
/// It only loads, so it works on read-only mappings too.
///
/// # Errors
/// [`ErrorKind::OutOfBounds`] or [`ErrorKind::Misaligned`] for the place;
/// [`ErrorKind::NotInitialised`] while it is uninit or initialising;
/// [`ErrorKind::LayoutMismatch`] when a field differs from this build's;
/// [`ErrorKind::ForeignNamespace`] when it was created in another pid namespace.
pub(crate) fn open<A: Access>(
    region: &Region<A>,
    offset: usize,
    layout: &Layout,
    call: &'static str,
) -> Result<()> {
    check_place(region, offset, layout, call)?;
    // Acquire pairs with finish_create's Release: the header and body are written.
    let st = region.load_u32(offset + OFF_STATE, Ordering::Acquire)?;
    match st {
        READY => {}
        UNINIT | INITIALISING => {
            return Err(error(
                ErrorKind::NotInitialised,
                call,
                offset,
                format!(
                    "no {} is ready here yet (state {st}: {})",
                    layout.what,
                    if st == UNINIT {
                        "uninit"
                    } else {
                        "initialising"
                    }
                ),
            ))
        }
        other => {
            return Err(error(
                ErrorKind::LayoutMismatch,
                call,
                offset,
                format!("invalid init state {other}"),
            ))
        }
    }
    // One read into a local copy: every check below looks at this copy only.
    let mut h = [0u8; HEADER_SIZE];
    region.read_at(offset, &mut h)?;
    let mismatch = |field: &str, found: String, want: String| {
        error(
            ErrorKind::LayoutMismatch,
            call,
            offset,
            format!(
                "not a {} of this layout: {field} is {found}, expected {want}",
                layout.what
            ),
        )
    };
    if h[OFF_MAGIC..OFF_MAGIC + 8] != layout.magic {
        return Err(mismatch(
            "magic",
            format!(
                "{:?}",
                String::from_utf8_lossy(&h[OFF_MAGIC..OFF_MAGIC + 8])
            ),
            format!("{:?}", String::from_utf8_lossy(&layout.magic)),
        ));
    }
    let checks = [
        ("layout version", OFF_VERSION, VERSION as usize),
        ("header size", OFF_HEADER_SIZE, HEADER_SIZE),
        ("total size", OFF_TOTAL, layout.size),
        ("payload size", OFF_PAYLOAD_SIZE, layout.payload_size),
        ("payload alignment", OFF_PAYLOAD_ALIGN, layout.payload_align),
        ("pthread_mutex_t size", OFF_LOCK_SIZE, layout.lock_size),
    ];
    for (field, at, want) in checks {
        let found = get_u32(&h, at);
        if found as usize != want {
            return Err(mismatch(field, found.to_string(), want.to_string()));
        }
    }
    let mut ns = [0u8; 8];
    ns.copy_from_slice(&h[OFF_PID_NS..OFF_PID_NS + 8]);
    let ns = u64::from_ne_bytes(ns);
    let ours = pid_namespace()?;
    if ns != ours {
        return Err(error(
            ErrorKind::ForeignNamespace,
            call,
            offset,
            format!(
                "the {} was created in pid namespace {ns} (by pid {} there), this process is in {ours}; robust locks record thread ids, which name other threads across namespaces",
                layout.what,
                get_u32(&h, OFF_CREATOR_PID)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(unsafe_code)] // a region over a heap buffer
mod tests {
    use super::*;
    use std::ptr::NonNull;

    fn layout() -> Layout {
        Layout {
            what: "test structure",
            magic: *b"shmkTEST",
            size: 128,
            payload_size: 8,
            payload_align: 8,
            lock_size: 0,
        }
    }

    fn with_region(len: usize, f: impl FnOnce(&Region)) {
        #[repr(align(64))]
        struct Line(#[allow(dead_code)] [u8; 64]);
        let mut storage: Vec<Line> = (0..len / 64 + 1).map(|_| Line([0; 64])).collect();
        let base = NonNull::new(storage.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: `storage` outlives the region and is only accessed through it.
        let region = unsafe { Region::<ReadWrite>::from_raw_parts(base, len) };
        f(&region);
    }

    #[test]
    fn create_then_open() {
        with_region(256, |r| {
            let l = layout();
            assert_eq!(
                open(r, 0, &l, "t").unwrap_err().kind(),
                ErrorKind::NotInitialised
            );
            begin_create(r, 0, &l, "t").unwrap();
            assert_eq!(
                open(r, 0, &l, "t").unwrap_err().kind(),
                ErrorKind::NotInitialised
            );
            assert_eq!(
                begin_create(r, 0, &l, "t").unwrap_err().kind(),
                ErrorKind::AlreadyExists
            );
            finish_create(r, 0).unwrap();
            open(r, 0, &l, "t").unwrap();
            let other = Layout {
                payload_size: 16,
                ..l
            };
            assert_eq!(
                open(r, 0, &other, "t").unwrap_err().kind(),
                ErrorKind::LayoutMismatch
            );
            let other = Layout {
                magic: *b"shmkELSE",
                ..l
            };
            assert_eq!(
                open(r, 0, &other, "t").unwrap_err().kind(),
                ErrorKind::LayoutMismatch
            );
            // Another namespace's inode.
            r.write_at(OFF_PID_NS, &1u64.to_ne_bytes()).unwrap();
            let err = open(r, 0, &l, "t").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ForeignNamespace, "{err}");
        });
    }

    #[test]
    fn placement_is_checked() {
        with_region(200, |r| {
            let l = layout();
            assert_eq!(
                begin_create(r, 128, &l, "t").unwrap_err().kind(),
                ErrorKind::OutOfBounds
            );
            assert_eq!(
                begin_create(r, 8, &l, "t").unwrap_err().kind(),
                ErrorKind::Misaligned
            );
            assert_eq!(
                open(r, usize::MAX - 3, &l, "t").unwrap_err().kind(),
                ErrorKind::OutOfBounds
            );
            r.atomic_u32(OFF_STATE).unwrap().store(7, Ordering::Relaxed);
            assert_eq!(
                open(r, 0, &l, "t").unwrap_err().kind(),
                ErrorKind::LayoutMismatch
            );
        });
    }
}
