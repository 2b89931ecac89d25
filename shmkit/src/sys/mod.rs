//! The syscall layer: the only module that calls `libc`.
//!
//! Every function here is a thin, typed wrapper over one libc call. Return codes and `errno`
//! are turned into `Result<_, Errno>` in [`conv`] and nowhere else; the safe API above adds the
//! context (which call, which object) when it turns an [`Errno`] into a [`crate::Error`].
//!
//! Nothing here knows about keys, segments or regions: arguments are plain integers and raw
//! pointers, exactly as the kernel sees them.
#![allow(unsafe_code)]

pub(crate) mod conv;
pub(crate) mod futex;
pub(crate) mod ipc;
pub(crate) mod msg;
pub(crate) mod process;
pub(crate) mod pthread;
pub(crate) mod sem;
pub(crate) mod shm;

pub(crate) use conv::Errno;
pub(crate) use libc::{EAGAIN, EINTR, EINVAL, ENOSYS, ETIMEDOUT};
