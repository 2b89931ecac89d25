//! What the three System V IPC facilities share at the syscall level: the generic flags and
//! commands of `ipc(5)`/`svipc(7)`, the permission structure, and zero-initialised kernel
//! structures.

use std::mem::MaybeUninit;

pub(crate) use libc::{
    ipc_perm, IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT,
};

/// A kernel structure made of integers only (and integer padding), for which all-zero bytes
/// are a valid value.
///
/// # Safety
/// Implement only for `#[repr(C)]` structures whose every field is an integer or an array
/// or structure of integers: no pointers, references, enums, bools or floats.
pub(crate) unsafe trait Plain: Sized {}

// SAFETY: the `*_ds` and `*info` structures of libc are `#[repr(C)]` structures of integers
// (`ipc_perm` included), as `<sys/shm.h>`, `<sys/sem.h>` and `<sys/msg.h>` define them.
unsafe impl Plain for libc::shmid_ds {}
// SAFETY: as above.
unsafe impl Plain for libc::semid_ds {}
// SAFETY: as above.
unsafe impl Plain for libc::msqid_ds {}
// SAFETY: as above.
unsafe impl Plain for libc::seminfo {}
// SAFETY: as above.
unsafe impl Plain for libc::msginfo {}

/// An all-zero `T`: the buffer a `*ctl` command fills, or the start of one `IPC_SET` reads.
pub(crate) fn zeroed<T: Plain>() -> T {
    // SAFETY: `T: Plain` promises that all-zero bytes are a valid `T`.
    unsafe { MaybeUninit::<T>::zeroed().assume_init() }
}
