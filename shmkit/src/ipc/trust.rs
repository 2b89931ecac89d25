//! The squatting defence shared by the open-or-create of every facility.
//!
//! Another user can create a well-known key first, with a wide mode, and then read or
//! change everything the victim puts in the object. Open-or-create therefore accepts an
//! existing object only if this user owns and created it, it grants nothing beyond the mode
//! asked for, and it has the size asked for, unless the caller opts out of a check.

use crate::error::{Error, ErrorKind, Result, Squatting};
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

/// Checks that `mode` holds permission bits only; `context` names the object and the
/// command in the error (`mode=` is appended).
///
/// The one check of every mode the crate passes to the kernel: the builders' modes (with
/// `context` naming the key) and `set_mode` (naming the id and `IPC_SET`).
pub(crate) fn checked_mode(call: &'static str, context: &str, mode: u32) -> Result<u32> {
    if mode & !0o777 != 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            call,
            format!("{context}, mode={mode:#o}"),
            "mode has bits beyond 0o777",
        ));
    }
    Ok(mode)
}
