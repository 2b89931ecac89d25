//! [`RemoveOnDrop`]: a guard that removes a temporary IPC object.

use crate::error::Result;
use crate::shm::Segment;
use std::ops::Deref;

/// An IPC object that a [`RemoveOnDrop`] guard can remove.
pub trait Removable {
    /// Removes the object from the system (`IPC_RMID`).
    ///
    /// # Errors
    /// Whatever the removal reports.
    fn remove_object(&self) -> Result<()>;
}

impl Removable for Segment {
    fn remove_object(&self) -> Result<()> {
        self.remove()
    }
}

/// A guard that removes its IPC object when dropped: temporary objects in tests, examples
/// and demos are gone even when the code panics. It derefs to the object.
#[derive(Debug)]
pub struct RemoveOnDrop<T: Removable> {
    object: Option<T>,
}

impl<T: Removable> RemoveOnDrop<T> {
    /// Guards `object`.
    pub fn new(object: T) -> Self {
        RemoveOnDrop {
            object: Some(object),
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
        if let Some(object) = self.object.take() {
            let _ = object.remove_object();
        }
    }
}
