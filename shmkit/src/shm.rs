//! System V shared-memory segments: create or open by key, attach, stat, set, lock, remove.
//!
//! The model, as `shmget(2)` describes it: a [`Key`] names a segment system-wide; creating or
//! opening gives a [`Segment`] (the kernel's id); attaching maps it into this process as an
//! [`Attachment`], which derefs to a bounds-checked [`Region`](crate::Region); dropping the attachment
//! detaches it; [`Segment::remove`] destroys the segment once the last process detaches.
//!
//! ```
//! use shmkit::{Key, Segment};
//!
//! let seg = Segment::builder(Key::PRIVATE).size(4096).create()?.remove_on_drop();
//! let map = seg.attach()?;
//! map.write_at(0, b"hello")?;
//! let mut buf = [0u8; 5];
//! map.read_at(0, &mut buf)?;
//! assert_eq!(&buf, b"hello");
//! assert_eq!(seg.stat()?.nattch, 1);
//! # Ok::<(), shmkit::Error>(())
//! ```

use crate::attachment::{attach, AttachOptions, Attachment};
use crate::error::{Error, ErrorKind, Result};
use crate::guard::RemoveOnDrop;
use crate::key::Key;
use crate::region::{ReadOnly, ReadWrite};
use crate::sys;
use crate::sys::shm::shmid_ds;
use crate::trust::{self, Existing, OpenOrCreate, Trust};

crate::id::ipc_id! {
    /// The kernel's identifier of a segment (`shmid`), as `shmget` returns it.
    ///
    /// Unlike a [`Key`], an id is chosen by the kernel and may be reused after the segment is
    /// destroyed.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmid")]
    ShmId
}

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

/// Everything the kernel knows about a segment: `struct shmid_ds` from `IPC_STAT`, or a
/// row of `/proc/sysvipc/shm`.
///
/// Times are seconds since the Unix epoch, 0 when the event never happened.
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html), `IPC_STAT`
/// - [`proc_sysvipc(5)`](https://man7.org/linux/man-pages/man5/proc_sysvipc.5.html)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentStat {
    /// The key (`shm_perm.__key`); [`Key::PRIVATE`] once the segment is marked for removal.
    pub key: Key,
    /// The id.
    pub id: ShmId,
    /// The owner's user id (`shm_perm.uid`).
    pub uid: u32,
    /// The owner's group id (`shm_perm.gid`).
    pub gid: u32,
    /// The creator's user id (`shm_perm.cuid`).
    pub cuid: u32,
    /// The creator's group id (`shm_perm.cgid`).
    pub cgid: u32,
    /// The permission bits (`shm_perm.mode & 0o777`).
    pub mode: u32,
    /// The size in bytes (`shm_segsz`), as asked for at creation.
    pub size: usize,
    /// The last `shmat` (`shm_atime`).
    pub atime: i64,
    /// The last `shmdt` (`shm_dtime`).
    pub dtime: i64,
    /// The creation or last `IPC_SET` (`shm_ctime`).
    pub ctime: i64,
    /// The creator's pid (`shm_cpid`).
    pub cpid: i32,
    /// The pid of the last `shmat`/`shmdt` (`shm_lpid`).
    pub lpid: i32,
    /// How many attachments exist (`shm_nattch`).
    pub nattch: u64,
    /// Marked for destruction (`SHM_DEST`): removed while still attached.
    pub dest: bool,
    /// Locked in memory (`SHM_LOCKED`, after `SHM_LOCK`).
    pub locked: bool,
    /// Resident bytes, when the source tells (`/proc/sysvipc/shm` does; `IPC_STAT` does not).
    pub rss: Option<u64>,
    /// Swapped-out bytes, when the source tells.
    pub swap: Option<u64>,
}

impl SegmentStat {
    pub(crate) fn from_ds(id: ShmId, ds: &shmid_ds) -> SegmentStat {
        let raw_mode = u32::from(ds.shm_perm.mode);
        SegmentStat {
            key: Key::from_raw(ds.shm_perm.__key),
            id,
            uid: ds.shm_perm.uid,
            gid: ds.shm_perm.gid,
            cuid: ds.shm_perm.cuid,
            cgid: ds.shm_perm.cgid,
            mode: raw_mode & 0o777,
            size: ds.shm_segsz,
            atime: ds.shm_atime,
            dtime: ds.shm_dtime,
            ctime: ds.shm_ctime,
            cpid: ds.shm_cpid,
            lpid: ds.shm_lpid,
            nattch: ds.shm_nattch,
            dest: raw_mode & sys::shm::SHM_DEST != 0,
            locked: raw_mode & sys::shm::SHM_LOCKED != 0,
            rss: None,
            swap: None,
        }
    }

    /// The mode word as the kernel stores it: permission bits plus `SHM_DEST` (`0o1000`) and
    /// `SHM_LOCKED` (`0o2000`), as `/proc/sysvipc/shm` shows it.
    pub fn raw_mode(&self) -> u32 {
        self.mode
            | if self.dest { sys::shm::SHM_DEST } else { 0 }
            | if self.locked { sys::shm::SHM_LOCKED } else { 0 }
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

/// The mode a segment gets when none is asked for: read-write for the owner only.
pub const DEFAULT_MODE: u32 = 0o600;

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

    fn create_flags(&self) -> Result<i32> {
        let mode = self.checked_mode()?;
        let mut flags = mode as i32 | sys::shm::IPC_CREAT | sys::shm::IPC_EXCL;
        if let Some(huge) = self.huge {
            flags |= huge.flags();
        }
        if self.no_reserve {
            flags |= sys::shm::SHM_NORESERVE;
        }
        Ok(flags)
    }

    fn checked_mode(&self) -> Result<u32> {
        trust::checked_mode("shmget", self.key, self.mode.unwrap_or(DEFAULT_MODE))
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
        let flags = self.create_flags()?;
        let id = shmget(self.key, self.size, flags)?;
        Ok(Segment {
            id,
            key: self.key,
            created: true,
        })
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
        let request = match self.mode {
            Some(_) => self.checked_mode()? as i32,
            None => 0,
        };
        let id = shmget(self.key, self.size, request)?;
        Ok(Segment {
            id,
            key: self.key,
            created: false,
        })
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
        let flags = self.create_flags()?;
        let mode = self.checked_mode()?;
        let request = if self.mode.is_some() { mode as i32 } else { 0 };
        let open_size = if self.trust.size { self.size } else { 0 };
        let key = self.key;
        let handle = |id, created| Segment { id, key, created };
        trust::open_or_create(OpenOrCreate {
            key,
            call: "shmget",
            context: format!("key={key}, size={}", self.size),
            trust: self.trust,
            mode,
            size: self.size,
            create: &|| shmget(key, self.size, flags).map(|id| handle(id, true)),
            open: &|| shmget(key, open_size, request).map(|id| handle(id, false)),
            existing: &|segment| {
                segment.stat().map(|s| Existing {
                    uid: s.uid,
                    cuid: s.cuid,
                    mode: s.mode,
                    size: Some(s.size),
                })
            },
            owner_of: &|key| {
                let row = crate::info::segments()
                    .ok()?
                    .into_iter()
                    .find(|r| r.key == key)?;
                Some((row.uid, row.cuid))
            },
        })
    }
}

fn shmget(key: Key, size: usize, flags: i32) -> Result<ShmId> {
    sys::shm::shmget(key.raw(), size, flags)
        .map(ShmId)
        .map_err(|e| Error::sys("shmget", format!("key={key}, size={size}"), e))
}

impl Segment {
    pub(crate) fn from_parts(id: ShmId, key: Key, created: bool) -> Segment {
        Segment { id, key, created }
    }

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
        let ds = stat_id(id)?;
        Ok(Segment {
            id,
            key: Key::from_raw(ds.shm_perm.__key),
            created: false,
        })
    }

    /// A handle to the object with this id, without asking the kernel anything: for
    /// callers that act on an id they were given (remove, set) where `IPC_STAT` may be
    /// refused (the owner of a mode-0 object may still remove it). The key is unknown and
    /// reported as [`Key::PRIVATE`]; every operation fails cleanly if the id names nothing.
    ///
    /// # References
    /// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    pub fn from_id_unchecked(id: ShmId) -> Segment {
        Segment {
            id,
            key: Key::PRIVATE,
            created: false,
        }
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
        stat_id(self.id).map(|ds| SegmentStat::from_ds(self.id, &ds))
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
        if mode & !0o777 != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "shmctl",
                format!("shmid={}, IPC_SET, mode={mode:#o}", self.id),
                "mode has bits beyond 0o777",
            ));
        }
        self.set(|ds| ds.shm_perm.mode = mode as _)
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
        self.set(|ds| {
            ds.shm_perm.uid = uid;
            ds.shm_perm.gid = gid;
        })
    }

    fn set(&self, change: impl FnOnce(&mut shmid_ds)) -> Result<()> {
        // IPC_SET copies uid, gid and mode from the buffer, so the current values are needed
        // first. IPC_STAT needs read permission, which IPC_SET does not (the owner of a
        // mode-0 segment may change it): fall back to the system listing then. Another
        // process changing the same segment between the two calls can be overwritten.
        let mut ds = match stat_id(self.id) {
            Ok(ds) => ds,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                let row = crate::info::segments()?
                    .into_iter()
                    .find(|r| r.id == self.id)
                    .ok_or(e)?;
                let mut ds = sys::shm::zeroed_ds();
                ds.shm_perm.uid = row.uid;
                ds.shm_perm.gid = row.gid;
                ds.shm_perm.mode = row.mode as _;
                ds
            }
            Err(e) => return Err(e),
        };
        change(&mut ds);
        sys::shm::set(self.id.0, &ds)
            .map_err(|e| Error::sys("shmctl", format!("shmid={}, IPC_SET", self.id), e))
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
        sys::shm::remove(self.id.0)
            .map_err(|e| Error::sys("shmctl", format!("shmid={}, IPC_RMID", self.id), e))
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
        sys::shm::lock(self.id.0, true)
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
        sys::shm::lock(self.id.0, false)
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
        attach(self, options)
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
        attach(self, options)
    }

    /// Wraps the handle in a guard that removes the segment when dropped: for temporary
    /// segments, tests and examples.
    pub fn remove_on_drop(self) -> RemoveOnDrop<Segment> {
        RemoveOnDrop::new(self)
    }
}

fn stat_id(id: ShmId) -> Result<shmid_ds> {
    sys::shm::stat(id.0).map_err(|e| Error::sys("shmctl", format!("shmid={id}, IPC_STAT"), e))
}
