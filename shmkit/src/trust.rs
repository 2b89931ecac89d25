//! The squatting defence shared by the open-or-create of every facility.
//!
//! Another user can create a well-known key first, with a wide mode, and then read or
//! change everything the victim puts in the object. Open-or-create therefore accepts an
//! existing object only if this user owns and created it, it grants nothing beyond the mode
//! asked for, and it has the size asked for, unless the caller opts out of a check.

use crate::error::{Error, ErrorKind, Squatting};
use crate::key::Key;
use crate::sys;

/// Which checks the caller lifted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Trust {
    pub(crate) owner: bool,
    pub(crate) mode: bool,
    pub(crate) size: bool,
}

/// What open-or-create knows about an existing object.
pub(crate) struct Existing {
    pub(crate) uid: u32,
    pub(crate) cuid: u32,
    pub(crate) mode: u32,
    /// Bytes for a segment, semaphores for a set; `None` where size does not apply.
    pub(crate) size: Option<usize>,
}

impl Trust {
    /// The reason to refuse `existing`, if any.
    pub(crate) fn refusal(
        &self,
        existing: &Existing,
        asked_mode: u32,
        asked_size: usize,
    ) -> Option<Squatting> {
        let euid = sys::process::geteuid();
        if !self.owner && (existing.uid != euid || existing.cuid != euid) {
            return Some(Squatting::OtherOwner {
                uid: existing.uid,
                cuid: existing.cuid,
                euid,
            });
        }
        if !self.mode && existing.mode & !asked_mode != 0 {
            return Some(Squatting::WiderMode {
                mode: existing.mode,
                asked: asked_mode,
            });
        }
        match existing.size {
            Some(size) if !self.size && size != asked_size => Some(Squatting::SizeMismatch {
                size,
                asked: asked_size,
            }),
            _ => None,
        }
    }

    /// Turns a permission error met while opening an existing object into the squatting it
    /// reveals, when `owner_of` (the system listing, which shows owners whatever the
    /// permissions) finds the key owned or created by another user.
    pub(crate) fn explain_denial(
        &self,
        err: Error,
        call: &'static str,
        context: String,
        key: Key,
        owner_of: impl FnOnce(Key) -> Option<(u32, u32)>,
    ) -> Error {
        if err.kind() != ErrorKind::PermissionDenied || self.owner {
            return err;
        }
        let euid = sys::process::geteuid();
        match owner_of(key) {
            Some((uid, cuid)) if uid != euid || cuid != euid => {
                Error::squatting(call, context, Squatting::OtherOwner { uid, cuid, euid })
            }
            _ => err,
        }
    }
}

/// How many times open-or-create tries when the object keeps appearing and vanishing
/// between the exclusive create and the open.
const TRIES: usize = 16;

/// What [`open_or_create`] needs to know about one facility.
pub(crate) struct OpenOrCreate<'a, H> {
    /// The key; with [`Key::PRIVATE`] every attempt creates.
    pub(crate) key: Key,
    /// The call named in errors (`shmget`, `semget`, `msgget`).
    pub(crate) call: &'static str,
    /// The arguments named in errors.
    pub(crate) context: String,
    /// The checks, the mode and the size asked for.
    pub(crate) trust: Trust,
    pub(crate) mode: u32,
    pub(crate) size: usize,
    /// Creates exclusively (`IPC_CREAT | IPC_EXCL`).
    pub(crate) create: &'a dyn Fn() -> crate::Result<H>,
    /// Opens the existing object.
    pub(crate) open: &'a dyn Fn() -> crate::Result<H>,
    /// What the kernel says about an opened object (`IPC_STAT`).
    pub(crate) existing: &'a dyn Fn(&H) -> crate::Result<Existing>,
    /// The owner and creator of the object with a key, from the system listing (which
    /// shows them whatever the permissions), for explaining a permission error.
    pub(crate) owner_of: &'a dyn Fn(Key) -> Option<(u32, u32)>,
}

/// Creates the object, or opens the existing one if it passes the squatting checks.
///
/// The object may vanish between the failed exclusive create and the open (or the stat):
/// then the create is tried again, a bounded number of times.
pub(crate) fn open_or_create<H>(o: OpenOrCreate<'_, H>) -> crate::Result<H> {
    let explain = |e: Error| {
        o.trust
            .explain_denial(e, o.call, o.context.clone(), o.key, |key| (o.owner_of)(key))
    };
    let mut last = None;
    for _ in 0..TRIES {
        match (o.create)() {
            Ok(handle) => return Ok(handle),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && !o.key.is_private() => {}
            Err(e) => return Err(e),
        }
        // It exists: open it. It may vanish in between (the open finds no such key, or the
        // stat no such id); then try creating again.
        let handle = match (o.open)() {
            Ok(handle) => handle,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(explain(e)),
        };
        let existing = match (o.existing)(&handle) {
            Ok(existing) => existing,
            Err(e) if matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::Removed) => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(explain(e)),
        };
        return match o.trust.refusal(&existing, o.mode, o.size) {
            None => Ok(handle),
            Some(why) => Err(Error::squatting(o.call, o.context, why)),
        };
    }
    Err(last.unwrap_or_else(|| {
        Error::new(
            ErrorKind::Other,
            o.call,
            o.context,
            "the object kept vanishing",
        )
    }))
}

/// Checks that `mode` holds permission bits only.
pub(crate) fn checked_mode(call: &'static str, key: Key, mode: u32) -> crate::Result<u32> {
    if mode & !0o777 != 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            call,
            format!("key={key}, mode={mode:#o}"),
            "mode has bits beyond 0o777",
        ));
    }
    Ok(mode)
}
