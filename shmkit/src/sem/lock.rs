//! [`SemLock`]: a cross-process lock the kernel releases when its holder dies.

use super::op::SemOp;
use super::set::SemaphoreSet;
use crate::error::{ErrorKind, Result};
use std::time::Duration;

/// A cross-process lock made of one semaphore (value 1 = free), taken with `SEM_UNDO` so
/// that the kernel releases it when the holder exits or is killed.
///
/// The creator of the set must make the lock free once ([`SemLock::init`]); until then,
/// `lock` waits. What the lock protects is up to the processes that share it.
///
/// ```
/// use shmkit::{Key, SemLock, SemaphoreSet};
///
/// let set = SemaphoreSet::create(Key::PRIVATE, 1)?.remove_on_drop();
/// let lock = SemLock::new((*set).clone(), 0);
/// lock.init()?;
/// {
///     let _held = lock.lock()?;
///     assert!(lock.try_lock()?.is_none());
/// } // released
/// assert!(lock.try_lock()?.is_some());
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// # References
/// - [`semop(2)`](https://man7.org/linux/man-pages/man2/semop.2.html), `SEM_UNDO`
#[derive(Debug, Clone)]
pub struct SemLock {
    set: SemaphoreSet,
    num: u16,
}

/// Proof that this process holds a [`SemLock`]; dropping it releases the lock.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SemLockGuard<'a> {
    lock: &'a SemLock,
}

impl SemLock {
    /// The lock made of semaphore `num` of `set`.
    pub fn new(set: SemaphoreSet, num: u16) -> SemLock {
        SemLock { set, num }
    }

    /// Makes the lock free (sets the semaphore to 1). Call once, from the creator.
    ///
    /// # Errors
    /// As [`SemaphoreSet::set_value`].
    pub fn init(&self) -> Result<()> {
        self.set.set_value(self.num, 1)
    }

    /// The set the lock lives in.
    pub fn set(&self) -> &SemaphoreSet {
        &self.set
    }

    /// Takes the lock, waiting as long as needed.
    ///
    /// # Errors
    /// As [`SemaphoreSet::op`] ([`ErrorKind::Removed`] if the set is removed meanwhile).
    pub fn lock(&self) -> Result<SemLockGuard<'_>> {
        self.set.op(&[SemOp::new(self.num, -1).undo()])?;
        Ok(SemLockGuard { lock: self })
    }

    /// Takes the lock if it is free now; `Ok(None)` if another process holds it.
    ///
    /// # Errors
    /// As [`SemaphoreSet::op`].
    pub fn try_lock(&self) -> Result<Option<SemLockGuard<'_>>> {
        match self.set.op(&[SemOp::new(self.num, -1).undo().no_wait()]) {
            Ok(()) => Ok(Some(SemLockGuard { lock: self })),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Takes the lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`ErrorKind::TimedOut`], or as [`SemaphoreSet::op`].
    pub fn lock_timeout(&self, timeout: Duration) -> Result<SemLockGuard<'_>> {
        self.set
            .op_timeout(&[SemOp::new(self.num, -1).undo()], timeout)?;
        Ok(SemLockGuard { lock: self })
    }
}

impl SemLockGuard<'_> {
    /// Releases the lock now, reporting an error that dropping would ignore.
    ///
    /// # Errors
    /// As [`SemaphoreSet::op`].
    pub fn unlock(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        this.release()
    }

    fn release(&self) -> Result<()> {
        self.lock.set.op(&[SemOp::new(self.lock.num, 1).undo()])
    }
}

impl Drop for SemLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.release();
    }
}
