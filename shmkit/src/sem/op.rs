//! [`SemOp`]: one operation of a `semop` batch, and the `sembuf` array the kernel takes.

use crate::sys;
use crate::sys::ipc::IPC_NOWAIT;
use crate::sys::sem::sembuf;
#[cfg(doc)]
use crate::{ErrorKind, SemaphoreSet};

/// One operation of a batch given to [`SemaphoreSet::op`] (`struct sembuf`).
///
/// A positive delta adds to the semaphore; a negative one waits until the value is at least
/// its magnitude, then subtracts; zero waits until the value is zero.
///
/// # References
/// - [`semop(2)`](https://man7.org/linux/man-pages/man2/semop.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemOp {
    num: u16,
    delta: i16,
    flags: i16,
}

impl SemOp {
    /// Adds `delta` to semaphore `num` (waiting first if that would go below zero).
    pub const fn new(num: u16, delta: i16) -> SemOp {
        SemOp {
            num,
            delta,
            flags: 0,
        }
    }

    /// Waits until semaphore `num` is zero.
    pub const fn wait_zero(num: u16) -> SemOp {
        SemOp::new(num, 0)
    }

    /// Fail with [`ErrorKind::WouldBlock`] instead of waiting (`IPC_NOWAIT`).
    pub const fn no_wait(mut self) -> SemOp {
        self.flags |= IPC_NOWAIT as i16;
        self
    }

    /// Have the kernel undo this operation when the process exits (`SEM_UNDO`), so that a
    /// process killed while holding a semaphore does not keep it.
    pub const fn undo(mut self) -> SemOp {
        self.flags |= sys::sem::SEM_UNDO as i16;
        self
    }

    /// The semaphore's index in the set.
    pub const fn num(&self) -> u16 {
        self.num
    }

    /// The delta.
    pub const fn delta(&self) -> i16 {
        self.delta
    }

    pub(crate) fn sembuf(self) -> sembuf {
        sembuf {
            sem_num: self.num,
            sem_op: self.delta,
            sem_flg: self.flags,
        }
    }

    pub(crate) fn is_no_wait(self) -> bool {
        self.flags & IPC_NOWAIT as i16 != 0
    }
}

/// How many operations fit in the stack buffer of one `semop` call.
const INLINE_OPS: usize = 8;

/// Runs `f` on the ops as `sembuf`s, on the stack for small batches.
pub(crate) fn with_sembufs<R>(ops: &[SemOp], f: impl FnOnce(&mut [sembuf]) -> R) -> R {
    if let [op] = ops {
        f(&mut [op.sembuf()])
    } else if ops.len() <= INLINE_OPS {
        let mut bufs = [SemOp::new(0, 0).sembuf(); INLINE_OPS];
        for (b, op) in bufs.iter_mut().zip(ops) {
            *b = op.sembuf();
        }
        f(&mut bufs[..ops.len()])
    } else {
        let mut bufs: Vec<sembuf> = ops.iter().map(|op| op.sembuf()).collect();
        f(&mut bufs)
    }
}
