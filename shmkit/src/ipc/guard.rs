//! [`RemoveOnDrop`]: a guard that removes a temporary IPC object.

use crate::error::Result;
use std::ops::Deref;

/// What a [`Removable`] object looks like now, so that a guard never removes a stranger.
///
/// The kernel reuses ids: once an object is destroyed, a later object may get the same id.
/// A guard therefore records the object's identity when it starts guarding, and at drop time
/// removes only an object that still has it and is not already marked for removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The id names no object, or an object already marked for removal.
    Gone,
    /// The object exists but cannot be inspected (for example, no read permission).
    Unknown,
    /// The object exists with these attributes, which never change over its life
    /// (for a segment: creator pid, creator uid, size; for a semaphore set: key, creator
    /// uid, number of semaphores; for a queue: key, creator uid, creator gid).
    Known(i32, u32, u64),
}

/// An IPC object that a [`RemoveOnDrop`] guard can remove.
pub trait Removable {
    /// The object's identity now (see [`Identity`]).
    fn identity(&self) -> Identity;

    /// Removes the object from the system (`IPC_RMID`).
    ///
    /// # Errors
    /// Whatever the removal reports.
    fn remove_object(&self) -> Result<()>;
}

/// A guard that removes its IPC object when dropped: temporary objects in tests, examples
/// and demos are gone even when the code panics. It derefs to the object.
///
/// At drop it removes the object only if it is still the one it guarded (the kernel may
/// have given the id to a new object after this one was removed and destroyed) and is not
/// already marked for removal.
#[derive(Debug)]
pub struct RemoveOnDrop<T: Removable> {
    object: Option<T>,
    identity: Identity,
}

impl<T: Removable> RemoveOnDrop<T> {
    /// Guards `object`, recording its identity.
    pub fn new(object: T) -> Self {
        let identity = object.identity();
        RemoveOnDrop {
            object: Some(object),
            identity,
        }
    }

    /// Disarms the guard: the object stays.
    pub fn into_inner(mut self) -> T {
        self.object.take().expect("the object is only taken once")
    }
}

impl<T: Removable> Deref for RemoveOnDrop<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.object
            .as_ref()
            .expect("the object is only taken by into_inner or drop")
    }
}

impl<T: Removable> Drop for RemoveOnDrop<T> {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        let remove = match (self.identity, object.identity()) {
            (_, Identity::Gone) => false,
            (Identity::Known(..), now @ Identity::Known(..)) => now == self.identity,
            _ => true,
        };
        if remove {
            let _ = object.remove_object();
        }
    }
}
