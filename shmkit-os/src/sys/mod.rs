//! The syscall layer: the only module of this crate that calls `libc`.
//!
//! Every function here is a thin, typed wrapper over one libc call (or a few that belong
//! together, as `tcgetattr` and `tcsetattr`). Return codes and `errno` become
//! `Result<_, Errno>` in [`conv`] and nowhere else; the safe functions at the crate root add
//! the context (which call, which arguments) when they turn an [`Errno`] into a
//! [`crate::Error`].
#![allow(unsafe_code)]

pub(crate) mod conv;
pub(crate) mod fd;
pub(crate) mod futex;
pub(crate) mod process;
pub(crate) mod sched;
pub(crate) mod term;
pub(crate) mod time;

pub(crate) use conv::Errno;
