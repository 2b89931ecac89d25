//! [`Attachment`]: one mapping of a segment into this process (`shmat`), detached on drop.

use super::stat::ShmId;
use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use crate::region::{Access, ReadWrite, Region};
use crate::sys;
#[cfg(doc)]
use crate::Segment;
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;

/// Where and how to attach; see [`Segment::attach_with`].
///
/// # References
/// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    address: Option<usize>,
    round: bool,
}

impl AttachOptions {
    /// Attach at the kernel's choice of address, read-write.
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    pub fn new() -> Self {
        AttachOptions::default()
    }

    /// Ask for this address. It must be page-aligned unless [`round_down`] is set, and the
    /// range must be free: the kernel never replaces an existing mapping here
    /// (`SHM_REMAP` is not offered), it fails with [`ErrorKind::InvalidArgument`] instead.
    ///
    /// [`round_down`]: AttachOptions::round_down
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    pub fn address(mut self, address: usize) -> Self {
        self.address = Some(address);
        self
    }

    /// Round the address down to a multiple of `SHMLBA` (`SHM_RND`).
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    pub fn round_down(mut self) -> Self {
        self.round = true;
        self
    }
}

#[allow(unsafe_code)] // the one place that turns a shmat address into a Region
pub(crate) fn attach<A: Access>(
    id: ShmId,
    key: Key,
    options: AttachOptions,
) -> Result<Attachment<A>> {
    let read_only = if A::WRITABLE { 0 } else { sys::shm::SHM_RDONLY };
    let flags = read_only | if options.round { sys::shm::SHM_RND } else { 0 };
    let hint = options.address.unwrap_or(0);
    let context = || match options.address {
        Some(addr) => format!("shmid={id}, addr={addr:#x}"),
        None => format!("shmid={id}"),
    };
    let base =
        sys::shm::shmat(id.raw(), hint, flags).map_err(|e| Error::sys("shmat", context(), e))?;
    let Some(base) = NonNull::new(base.cast::<u8>()) else {
        return Err(Error::new(
            ErrorKind::Other,
            "shmat",
            context(),
            "the kernel returned a null address",
        ));
    };
    // The size comes from the kernel *after* attaching: while we are attached the id cannot
    // be destroyed and reused, so this describes exactly the segment that is mapped.
    let size = match sys::shm::stat(id.raw()) {
        Ok(ds) => ds.shm_segsz,
        Err(e) => {
            // SAFETY: `base` was returned by shmat just now and nothing references it.
            let _ = unsafe { sys::shm::shmdt(base.as_ptr().cast()) };
            return Err(Error::sys("shmctl", format!("shmid={id}, IPC_STAT"), e));
        }
    };
    Ok(Attachment {
        // SAFETY: the kernel mapped at least `size` bytes (rounded up to pages) at `base`,
        // writable unless SHM_RDONLY was passed, which was derived from `A` above. The mapping stays until the Attachment drops,
        // and the Region is only reachable by borrowing the Attachment.
        region: unsafe { Region::from_raw_parts(base, size) },
        id,
        key,
    })
}

/// One mapping of a segment into this process (`shmat`), detached when dropped (`shmdt`).
///
/// It derefs to a [`Region`], whose methods read and write the memory; read-only
/// attachments ([`Segment::attach_read_only`]) deref to a `Region<ReadOnly>`, which has no
/// method that writes. The region's length is the segment's size.
///
/// # References
/// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
#[must_use = "the segment is detached as soon as the attachment is dropped"]
pub struct Attachment<A: Access = ReadWrite> {
    region: Region<A>,
    id: ShmId,
    key: Key,
}

impl<A: Access> fmt::Debug for Attachment<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("region", &self.region)
            .finish()
    }
}

impl<A: Access> Attachment<A> {
    /// The attached segment's id.
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    pub fn id(&self) -> ShmId {
        self.id
    }

    /// The key of the segment, as the handle it was attached through knew it.
    pub(crate) fn key(&self) -> Key {
        self.key
    }

    /// The address the segment is attached at.
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    pub fn address(&self) -> usize {
        self.region.as_ptr() as usize
    }

    /// The mapped region.
    pub fn region(&self) -> &Region<A> {
        &self.region
    }

    /// Detaches now (`shmdt`), reporting an error that dropping would ignore.
    ///
    /// While this process holds a robust lock in the region (a guard of
    /// [`crate::sync`] is alive, or was leaked with `std::mem::forget`), the mapping is not
    /// removed: the kernel's robust-futex list points into it. Then this returns
    /// [`ErrorKind::Busy`] and the mapping stays (leaked) until the process exits.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if the kernel no longer has a mapping here;
    /// [`ErrorKind::Busy`] while a lock in it is held.
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    #[doc(alias = "shmdt")]
    pub fn detach(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        this.detach_inner()
    }

    #[allow(unsafe_code)]
    fn detach_inner(&self) -> Result<()> {
        let addr = self.region.as_ptr();
        if self.region.locks_held() > 0 {
            return Err(Error::new(
                ErrorKind::Busy,
                "shmdt",
                format!("shmid={}, addr={:p}", self.id, addr),
                "this process holds a robust lock in the segment: the mapping stays",
            ));
        }
        // SAFETY: `addr` is where shmat attached this mapping; the Region that borrows it is
        // owned by `self`, which is being consumed or dropped, so no borrow of it remains.
        unsafe { sys::shm::shmdt(addr.cast()) }
            .map_err(|e| Error::sys("shmdt", format!("shmid={}, addr={:p}", self.id, addr), e))
    }
}

impl<A: Access> Deref for Attachment<A> {
    type Target = Region<A>;

    fn deref(&self) -> &Region<A> {
        &self.region
    }
}

impl<A: Access> Drop for Attachment<A> {
    fn drop(&mut self) {
        let _ = self.detach_inner();
    }
}
