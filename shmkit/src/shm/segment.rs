//! [`Segment`]: a handle to a segment (create, open, stat, set, lock, remove, attach), and
//! [`SegmentBuilder`].

use super::attachment::{attach, AttachOptions, Attachment};
use super::list::segments;
use super::stat::{SegmentStat, ShmId};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::ipc::guard::{Identity, Removable, RemoveOnDrop};
#[cfg(doc)]
use crate::ipc::object::DEFAULT_MODE;
use crate::ipc::object::{self, IpcObject, Perm, Request, SysResult};
use crate::ipc::trust::Trust;
use crate::key::Key;
use crate::region::{Access, ReadOnly, ReadWrite};
use crate::sys;
use crate::sys::ipc::ipc_perm;
use crate::sys::shm::shmid_ds;

/// The size of the huge pages backing a segment created with [`SegmentBuilder::huge_pages`].
///
/// # References
/// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HugePageSize {
    /// The system's default huge page size (`SHM_HUGETLB` alone).
    Default,
    /// 2 MiB pages (`SHM_HUGETLB | SHM_HUGE_2MB`).
    Size2MiB,
    /// 1 GiB pages (`SHM_HUGETLB | SHM_HUGE_1GB`).
    Size1GiB,
}

impl HugePageSize {
    fn flags(self) -> i32 {
        let log2 = match self {
            HugePageSize::Default => return sys::shm::SHM_HUGETLB,
            HugePageSize::Size2MiB => 21,
            HugePageSize::Size1GiB => 30,
        };
        sys::shm::SHM_HUGETLB | (log2 << sys::shm::SHM_HUGE_SHIFT)
    }
}

/// A handle to a System V shared-memory segment: its id and the key it was opened with.
///
/// A `Segment` does not own the kernel object: dropping it removes nothing. Call
/// [`Segment::remove`], or wrap it with [`Segment::remove_on_drop`] for a temporary segment.
///
/// # References
/// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
/// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    id: ShmId,
    key: Key,
    created: bool,
}

/// How to create or open a segment; made by [`Segment::builder`].
///
/// # References
/// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until create(), open() or open_or_create() is called"]
pub struct SegmentBuilder {
    key: Key,
    size: usize,
    mode: Option<u32>,
    huge: Option<HugePageSize>,
    no_reserve: bool,
    trust: Trust,
}

impl SegmentBuilder {
    /// The size in bytes, for creating (and for checking an existing segment's size in
    /// [`open_or_create`](SegmentBuilder::open_or_create)). The kernel rounds the memory up
    /// to whole pages; [`SegmentStat::size`] and attachments keep the size asked for.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    pub fn size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// The permission bits (`0o777` at most; default [`DEFAULT_MODE`], `0o600`).
    ///
    /// When opening, a mode set here is also passed to the kernel, which then checks that
    /// the caller has those permissions ([`ErrorKind::PermissionDenied`] otherwise), as
    /// `shmget(key, 0, mode)` does in C.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Back the segment with huge pages (`SHM_HUGETLB`). Needs `CAP_IPC_LOCK`, membership
    /// of `vm.hugetlb_shm_group` or a large enough `RLIMIT_MEMLOCK`, and free huge pages
    /// (`vm.nr_hugepages`); the size should be a multiple of the page size.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    pub fn huge_pages(mut self, size: HugePageSize) -> Self {
        self.huge = Some(size);
        self
    }

    /// Do not reserve swap space (`SHM_NORESERVE`): when memory runs out, a write to the
    /// segment raises `SIGSEGV` instead of the creation failing.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    pub fn no_reserve(mut self) -> Self {
        self.no_reserve = true;
        self
    }

    /// Let [`open_or_create`](SegmentBuilder::open_or_create) accept an existing segment
    /// owned or created by another user.
    pub fn trust_other_owner(mut self) -> Self {
        self.trust.owner = true;
        self
    }

    /// Let [`open_or_create`](SegmentBuilder::open_or_create) accept an existing segment
    /// whose mode grants more than the mode asked for.
    pub fn trust_wider_mode(mut self) -> Self {
        self.trust.mode = true;
        self
    }

    /// Let [`open_or_create`](SegmentBuilder::open_or_create) accept an existing segment of
    /// another size (the kernel still refuses one smaller than asked for).
    pub fn trust_size_mismatch(mut self) -> Self {
        self.trust.size = true;
        self
    }

    /// All three `trust_*` opt-ins: open-or-create behaves like plain `shmget(IPC_CREAT)`.
    pub fn trust_existing(self) -> Self {
        self.trust_other_owner()
            .trust_wider_mode()
            .trust_size_mismatch()
    }

    fn request(&self) -> Request {
        Request {
            key: self.key,
            mode: self.mode,
            trust: self.trust,
            size: self.size,
            create_flags: self.huge.map_or(0, HugePageSize::flags)
                | if self.no_reserve {
                    sys::shm::SHM_NORESERVE
                } else {
                    0
                },
        }
    }

    /// Creates a new segment; fails if one with the key exists (`IPC_CREAT | IPC_EXCL`).
    /// With [`Key::PRIVATE`] every call creates a new segment.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] (`EEXIST`); [`ErrorKind::InvalidArgument`] for a size
    /// below `SHMMIN` or above `SHMMAX`; [`ErrorKind::LimitExceeded`] at `SHMMNI` or
    /// `SHMALL`; [`ErrorKind::OutOfMemory`]; [`ErrorKind::NotPermitted`] for huge pages
    /// without the right to them.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmget")]
    pub fn create(self) -> Result<Segment> {
        self.request().create()
    }

    /// Opens the existing segment with this key (`shmget(key, size, mode)` without
    /// `IPC_CREAT`). A size set here must not exceed the segment's.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] (`ENOENT`); [`ErrorKind::PermissionDenied`] if an explicitly
    /// set mode is not granted; [`ErrorKind::InvalidArgument`] if the size is larger than
    /// the segment's.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmget")]
    pub fn open(self) -> Result<Segment> {
        self.request().open()
    }

    /// Creates the segment, or opens it if it exists: then it must be trustworthy, or
    /// this fails with [`ErrorKind::Squatting`] (see [`Squatting`](crate::Squatting)): owned and created by
    /// this process's effective uid, no permission bits beyond the mode asked for, and
    /// exactly the size asked for. The `trust_*` methods lift each check.
    /// [`Segment::created`] tells which happened.
    ///
    /// # Errors
    /// As [`create`](SegmentBuilder::create) and [`open`](SegmentBuilder::open), plus
    /// [`ErrorKind::Squatting`].
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmget")]
    pub fn open_or_create(self) -> Result<Segment> {
        self.request().open_or_create()
    }
}

impl Segment {
    /// A builder for creating or opening the segment named `key`.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    pub fn builder(key: Key) -> SegmentBuilder {
        SegmentBuilder {
            key,
            size: 0,
            mode: None,
            huge: None,
            no_reserve: false,
            trust: Trust::default(),
        }
    }

    /// Creates a new segment of `size` bytes with mode `0o600`; fails if `key` exists.
    /// Shorthand for `Segment::builder(key).size(size).create()`.
    ///
    /// # Errors
    /// See [`SegmentBuilder::create`].
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmget")]
    pub fn create(key: Key, size: usize) -> Result<Segment> {
        Segment::builder(key).size(size).create()
    }

    /// Opens the existing segment named `key` (`shmget(key, 0, 0)`).
    ///
    /// # Errors
    /// See [`SegmentBuilder::open`].
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmget")]
    pub fn open(key: Key) -> Result<Segment> {
        Segment::builder(key).open()
    }

    /// Creates a segment of `size` bytes with mode `0o600`, or opens the existing one if it
    /// passes the squatting checks of [`SegmentBuilder::open_or_create`].
    ///
    /// # Errors
    /// See [`SegmentBuilder::open_or_create`].
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmget")]
    pub fn open_or_create(key: Key, size: usize) -> Result<Segment> {
        Segment::builder(key).size(size).open_or_create()
    }

    /// The segment with this id, checked to exist with `IPC_STAT` (which needs read
    /// permission).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an id that names no segment;
    /// [`ErrorKind::PermissionDenied`].
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    pub fn from_id(id: ShmId) -> Result<Segment> {
        object::from_id(id)
    }

    /// A handle to the object with this id, without asking the kernel anything: for
    /// callers that act on an id they were given (remove, set) where `IPC_STAT` may be
    /// refused (the owner of a mode-0 object may still remove it). The key is unknown and
    /// reported as [`Key::PRIVATE`]; every operation fails cleanly if the id names nothing.
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    pub fn from_id_unchecked(id: ShmId) -> Segment {
        object::from_id_unchecked(id)
    }

    /// The id.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    pub fn id(&self) -> ShmId {
        self.id
    }

    /// The key this handle was created or opened with (the kernel's key becomes
    /// [`Key::PRIVATE`] once the segment is removed; [`Segment::stat`] shows that).
    pub fn key(&self) -> Key {
        self.key
    }

    /// Whether this handle created the segment (as opposed to opening an existing one).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Everything the kernel knows about the segment (`shmctl(IPC_STAT)`).
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] without read permission;
    /// [`ErrorKind::InvalidArgument`] once the segment is gone.
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "IPC_STAT")]
    pub fn stat(&self) -> Result<SegmentStat> {
        object::stat(self)
    }

    /// Sets the permission bits (`IPC_SET`), keeping the owner.
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless the caller owns or created the segment (or has
    /// `CAP_SYS_ADMIN`); [`ErrorKind::InvalidArgument`] for bits beyond `0o777`.
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "IPC_SET")]
    pub fn set_mode(&self, mode: u32) -> Result<()> {
        object::set_mode(self, mode)
    }

    /// Sets the owner (`IPC_SET`), keeping the mode.
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless the caller owns or created the segment (or has
    /// `CAP_SYS_ADMIN`); [`ErrorKind::InvalidArgument`] for ids the kernel cannot map.
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "IPC_SET")]
    pub fn set_owner(&self, uid: u32, gid: u32) -> Result<()> {
        object::set_owner(self, uid, gid)
    }

    /// Marks the segment for destruction (`IPC_RMID`). It is destroyed when the last
    /// process detaches; until then existing attachments keep working, the key becomes
    /// [`Key::PRIVATE`] (so the key can name a new segment) and
    /// [`SegmentStat::dest`] is set.
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless the caller owns or created the segment (or has
    /// `CAP_SYS_ADMIN`); [`ErrorKind::InvalidArgument`] if it is already gone.
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        object::remove(self)
    }

    /// Locks the segment's pages in memory (`SHM_LOCK`): they are not swapped out.
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] without `CAP_IPC_LOCK` (unless owner or creator within
    /// `RLIMIT_MEMLOCK`); [`ErrorKind::OutOfMemory`] past that limit.
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "SHM_LOCK")]
    pub fn lock(&self) -> Result<()> {
        sys::shm::lock(self.id.raw(), true)
            .map_err(|e| Error::sys("shmctl", format!("shmid={}, SHM_LOCK", self.id), e))
    }

    /// Unlocks the segment's pages (`SHM_UNLOCK`).
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] as for [`Segment::lock`].
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "SHM_UNLOCK")]
    pub fn unlock(&self) -> Result<()> {
        sys::shm::lock(self.id.raw(), false)
            .map_err(|e| Error::sys("shmctl", format!("shmid={}, SHM_UNLOCK", self.id), e))
    }

    /// Attaches the segment read-write at an address the kernel picks.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] without read and write permission;
    /// [`ErrorKind::InvalidArgument`] once the segment is gone;
    /// [`ErrorKind::OutOfMemory`].
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    #[doc(alias = "shmat")]
    pub fn attach(&self) -> Result<Attachment<ReadWrite>> {
        self.attach_with(AttachOptions::new())
    }

    /// Attaches the segment read-only (`SHM_RDONLY`): the returned attachment has no
    /// method that writes.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] without read permission, and as [`Segment::attach`].
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    #[doc(alias = "shmat")]
    #[doc(alias = "SHM_RDONLY")]
    pub fn attach_read_only(&self) -> Result<Attachment<ReadOnly>> {
        self.attach_read_only_with(AttachOptions::new())
    }

    /// Attaches read-write with an address hint.
    ///
    /// # Errors
    /// As [`Segment::attach`], plus [`ErrorKind::InvalidArgument`] for an address that is
    /// not page-aligned (without `SHM_RND`) or whose range is in use.
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    #[doc(alias = "shmat")]
    pub fn attach_with(&self, options: AttachOptions) -> Result<Attachment<ReadWrite>> {
        attach(self.id, self.key, options)
    }

    /// Attaches read-only with an address hint.
    ///
    /// # Errors
    /// As [`Segment::attach_with`].
    ///
    /// # References
    /// - [`shmop(2)`](https://man7.org/linux/man-pages/man2/shmop.2.html)
    #[doc(alias = "shmat")]
    pub fn attach_read_only_with(&self, options: AttachOptions) -> Result<Attachment<ReadOnly>> {
        attach(self.id, self.key, options)
    }

    /// Wraps the handle in a guard that removes the segment when dropped: for temporary
    /// segments, tests and examples.
    pub fn remove_on_drop(self) -> RemoveOnDrop<Segment> {
        RemoveOnDrop::new(self)
    }
}

impl<A: Access> Attachment<A> {
    /// A handle to the attached segment.
    pub fn segment(&self) -> Segment {
        Segment {
            id: self.id(),
            key: self.key(),
            created: false,
        }
    }
}

impl Removable for Segment {
    fn identity(&self) -> Identity {
        object::identity(self)
    }

    fn remove_object(&self) -> Result<()> {
        self.remove()
    }
}

impl IpcObject for Segment {
    type Id = ShmId;
    type Ds = shmid_ds;
    type Stat = SegmentStat;
    const GET: &'static str = "shmget";
    const CTL: &'static str = "shmctl";
    const ID_NAME: &'static str = "shmid";
    const SYS_STAT: fn(i32) -> SysResult<shmid_ds> = sys::shm::stat;
    const SYS_SET: fn(i32, &shmid_ds) -> SysResult<()> = sys::shm::set;
    const SYS_REMOVE: fn(i32) -> SysResult<()> = sys::shm::remove;
    const FROM_DS: fn(ShmId, &shmid_ds) -> SegmentStat = SegmentStat::from_ds;
    const LIST: fn() -> Result<Vec<SegmentStat>> = segments;

    fn from_parts(id: ShmId, key: Key, created: bool) -> Segment {
        Segment { id, key, created }
    }

    fn object_id(&self) -> ShmId {
        self.id
    }

    fn get(key: Key, size: usize, flags: i32) -> Result<ShmId> {
        sys::shm::shmget(key.raw(), size, flags)
            .map(ShmId::from_raw)
            .map_err(|e| Error::sys(Self::GET, Segment::get_context(key, size), e))
    }

    fn get_context(key: Key, size: usize) -> String {
        format!("key={key}, size={size}")
    }

    fn perm_mut(ds: &mut shmid_ds) -> &mut ipc_perm {
        &mut ds.shm_perm
    }

    fn perm(stat: &SegmentStat) -> Perm<ShmId> {
        Perm {
            id: stat.id,
            key: stat.key,
            uid: stat.uid,
            gid: stat.gid,
            cuid: stat.cuid,
            mode: stat.mode,
            size: Some(stat.size),
        }
    }

    fn identity_of(stat: &SegmentStat) -> Identity {
        if stat.dest {
            Identity::Gone
        } else {
            Identity::Known(stat.cpid, stat.cuid, stat.size as u64)
        }
    }
}
