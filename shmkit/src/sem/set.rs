//! [`SemaphoreSet`]: a handle to a semaphore set (create, open, operate, read and set
//! values, stat, set, remove), and [`SemaphoreSetBuilder`].

use super::list::semaphore_sets;
use super::op::{with_sembufs, SemOp};
use super::stat::{SemId, SemStat};
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::guard::{Identity, Removable, RemoveOnDrop};
use crate::ipc::object::{self, IpcObject, Perm, Request, SysResult};
use crate::ipc::trust::Trust;
use crate::key::Key;
use crate::sys;
use crate::sys::ipc::ipc_perm;
use crate::sys::sem::{semid_ds, semun};
use std::time::{Duration, Instant};

/// A handle to a System V semaphore set. Like [`Segment`](crate::Segment), dropping it
/// removes nothing; see [`SemaphoreSet::remove`] and [`SemaphoreSet::remove_on_drop`].
///
/// # References
/// - [`semget(2)`](https://man7.org/linux/man-pages/man2/semget.2.html)
/// - [`semop(2)`](https://man7.org/linux/man-pages/man2/semop.2.html)
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SemaphoreSet {
    id: SemId,
    key: Key,
    created: bool,
}

/// How to create or open a semaphore set; made by [`SemaphoreSet::builder`].
///
/// # References
/// - [`semget(2)`](https://man7.org/linux/man-pages/man2/semget.2.html)
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until create(), open() or open_or_create() is called"]
pub struct SemaphoreSetBuilder {
    key: Key,
    count: usize,
    mode: Option<u32>,
    trust: Trust,
}

impl SemaphoreSetBuilder {
    /// How many semaphores (at most `SEMMSL`); needed to create, optional to open.
    pub fn count(mut self, count: usize) -> Self {
        self.count = count;
        self
    }

    /// The permission bits (default `0o600`). When opening, a mode set here is passed to
    /// the kernel, which checks that the caller has it.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Let open-or-create accept a set owned or created by another user.
    pub fn trust_other_owner(mut self) -> Self {
        self.trust.owner = true;
        self
    }

    /// Let open-or-create accept a set whose mode grants more than asked for.
    pub fn trust_wider_mode(mut self) -> Self {
        self.trust.mode = true;
        self
    }

    /// Let open-or-create accept a set with another number of semaphores.
    pub fn trust_size_mismatch(mut self) -> Self {
        self.trust.size = true;
        self
    }

    /// All three `trust_*` opt-ins.
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
            size: self.count,
            create_flags: 0,
        }
    }

    /// Creates a new set exclusively (`IPC_CREAT | IPC_EXCL`); every value starts at 0.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::InvalidArgument`] for a count of 0 or
    /// above `SEMMSL`; [`ErrorKind::LimitExceeded`] at `SEMMNI` or `SEMMNS`.
    #[doc(alias = "semget")]
    pub fn create(self) -> Result<SemaphoreSet> {
        self.request().create()
    }

    /// Opens the existing set with this key. A count set here must not exceed the set's.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::PermissionDenied`] if an explicit mode is not
    /// granted; [`ErrorKind::InvalidArgument`] if the count is larger than the set's.
    #[doc(alias = "semget")]
    pub fn open(self) -> Result<SemaphoreSet> {
        self.request().open()
    }

    /// Creates the set, or opens it if it exists and passes the squatting checks (owner,
    /// mode, number of semaphores), as [`SegmentBuilder::open_or_create`] describes.
    ///
    /// A newly created set's values are 0: the creator should initialise them (for
    /// example with [`SemaphoreSet::set_values`]) before others rely on them.
    ///
    /// [`SegmentBuilder::open_or_create`]: crate::SegmentBuilder::open_or_create
    ///
    /// # Errors
    /// As `create` and `open`, plus [`ErrorKind::Squatting`].
    #[doc(alias = "semget")]
    pub fn open_or_create(self) -> Result<SemaphoreSet> {
        self.request().open_or_create()
    }
}

impl SemaphoreSet {
    /// A builder for creating or opening the set named `key`.
    pub fn builder(key: Key) -> SemaphoreSetBuilder {
        SemaphoreSetBuilder {
            key,
            count: 0,
            mode: None,
            trust: Trust::default(),
        }
    }

    /// Creates a new set of `count` semaphores with mode `0o600`; fails if `key` exists.
    ///
    /// # Errors
    /// See [`SemaphoreSetBuilder::create`].
    #[doc(alias = "semget")]
    pub fn create(key: Key, count: usize) -> Result<SemaphoreSet> {
        SemaphoreSet::builder(key).count(count).create()
    }

    /// Opens the existing set named `key` (`semget(key, 0, 0)`).
    ///
    /// # Errors
    /// See [`SemaphoreSetBuilder::open`].
    #[doc(alias = "semget")]
    pub fn open(key: Key) -> Result<SemaphoreSet> {
        SemaphoreSet::builder(key).open()
    }

    /// Creates a set of `count` semaphores, or opens the existing one if it passes the
    /// squatting checks.
    ///
    /// # Errors
    /// See [`SemaphoreSetBuilder::open_or_create`].
    #[doc(alias = "semget")]
    pub fn open_or_create(key: Key, count: usize) -> Result<SemaphoreSet> {
        SemaphoreSet::builder(key).count(count).open_or_create()
    }

    /// The set with this id, checked to exist with `IPC_STAT`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an id that names no set;
    /// [`ErrorKind::PermissionDenied`].
    pub fn from_id(id: SemId) -> Result<SemaphoreSet> {
        object::from_id(id)
    }

    /// A handle to the object with this id, without asking the kernel anything: for
    /// callers that act on an id they were given (remove, set) where `IPC_STAT` may be
    /// refused (the owner of a mode-0 object may still remove it). The key is unknown and
    /// reported as [`Key::PRIVATE`]; every operation fails cleanly if the id names nothing.
    ///
    /// # References
    /// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html)
    pub fn from_id_unchecked(id: SemId) -> SemaphoreSet {
        object::from_id_unchecked(id)
    }

    /// The id.
    pub fn id(&self) -> SemId {
        self.id
    }

    /// The key this handle was created or opened with.
    pub fn key(&self) -> Key {
        self.key
    }

    /// Whether this handle created the set.
    pub fn created(&self) -> bool {
        self.created
    }

    fn ctx(&self, what: &str) -> String {
        format!("semid={}, {what}", self.id)
    }

    /// Applies `ops` atomically: all of them or none (`semop`). Blocks until they can all
    /// proceed, unless one has [`SemOp::no_wait`].
    ///
    /// EINTR policy: a signal that interrupts the wait restarts it (nothing was applied);
    /// use [`SemaphoreSet::op_interruptible`] to see [`ErrorKind::Interrupted`] instead.
    ///
    /// # Errors
    /// [`ErrorKind::WouldBlock`] (`EAGAIN`, no-wait); [`ErrorKind::Removed`] (`EIDRM`, the
    /// set was removed while waiting); [`ErrorKind::TooBig`] (`E2BIG`, more than `SEMOPM`
    /// operations); [`ErrorKind::IndexOutOfRange`] (`EFBIG`, no such semaphore);
    /// [`ErrorKind::OutOfRange`] (`ERANGE`, a value or undo adjustment past `SEMVMX`);
    /// [`ErrorKind::InvalidArgument`] (no operations, or no such set);
    /// [`ErrorKind::PermissionDenied`]; [`ErrorKind::OutOfMemory`].
    ///
    /// # References
    /// - [`semop(2)`](https://man7.org/linux/man-pages/man2/semop.2.html)
    #[doc(alias = "semop")]
    pub fn op(&self, ops: &[SemOp]) -> Result<()> {
        loop {
            match self.op_interruptible(ops) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Like [`SemaphoreSet::op`], but a signal ends the wait with
    /// [`ErrorKind::Interrupted`] (`EINTR`).
    ///
    /// # Errors
    /// As [`SemaphoreSet::op`], plus [`ErrorKind::Interrupted`].
    #[doc(alias = "semop")]
    pub fn op_interruptible(&self, ops: &[SemOp]) -> Result<()> {
        with_sembufs(ops, |bufs| sys::sem::semop(self.id.raw(), bufs))
            .map_err(|e| Error::sys("semop", self.ctx(&format!("nsops={}", ops.len())), e))
    }

    /// Like [`SemaphoreSet::op`], waiting at most `timeout` (`semtimedop`).
    ///
    /// EINTR policy: a signal restarts the wait with the time that remains.
    ///
    /// # Errors
    /// [`ErrorKind::TimedOut`] when the time runs out; otherwise as
    /// [`SemaphoreSet::op`] ([`ErrorKind::WouldBlock`] for a no-wait operation that could
    /// not proceed before the deadline).
    ///
    /// # References
    /// - [`semtimedop(2)`](https://man7.org/linux/man-pages/man2/semtimedop.2.html)
    #[doc(alias = "semtimedop")]
    pub fn op_timeout(&self, ops: &[SemOp], timeout: Duration) -> Result<()> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => timeout,
            };
            match with_sembufs(ops, |bufs| {
                sys::sem::semtimedop(self.id.raw(), bufs, remaining)
            }) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw() == sys::EINTR => continue,
                Err(e) => {
                    let ctx = self.ctx(&format!("nsops={}, timeout={timeout:?}", ops.len()));
                    let err = Error::sys("semtimedop", ctx, e);
                    let timed_out = e.raw() == sys::EAGAIN
                        && (!ops.iter().any(|op| op.is_no_wait())
                            || deadline.is_some_and(|d| Instant::now() >= d));
                    if timed_out {
                        return Err(err.with_kind(ErrorKind::TimedOut));
                    }
                    return Err(err);
                }
            }
        }
    }

    fn ctl(&self, num: u16, cmd: i32, what: &str, val: i32) -> Result<i32> {
        sys::sem::semctl(self.id.raw(), i32::from(num), cmd, semun { val })
            .map_err(|e| Error::sys("semctl", self.ctx(&format!("semnum={num}, {what}")), e))
    }

    /// The value of semaphore `num` (`GETVAL`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a `num` beyond the set, or no such set;
    /// [`ErrorKind::PermissionDenied`].
    #[doc(alias = "GETVAL")]
    pub fn value(&self, num: u16) -> Result<u16> {
        self.ctl(num, sys::sem::GETVAL, "GETVAL", 0)
            .map(|v| v as u16)
    }

    /// Sets semaphore `num` to `value` (`SETVAL`), clearing every process's undo
    /// adjustment for it and waking waiters that can now proceed.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] above `SEMVMX` (32767); [`ErrorKind::InvalidArgument`];
    /// [`ErrorKind::PermissionDenied`].
    #[doc(alias = "SETVAL")]
    pub fn set_value(&self, num: u16, value: u16) -> Result<()> {
        self.ctl(
            num,
            sys::sem::SETVAL,
            &format!("SETVAL {value}"),
            i32::from(value),
        )
        .map(drop)
    }

    /// Every value (`GETALL`).
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`]; [`ErrorKind::InvalidArgument`] for no such set.
    #[doc(alias = "GETALL")]
    pub fn values(&self) -> Result<Vec<u16>> {
        let nsems = self.stat()?.nsems;
        let mut values = vec![0u16; nsems];
        sys::sem::get_all(self.id.raw(), &mut values)
            .map_err(|e| Error::sys("semctl", self.ctx("GETALL"), e))?;
        Ok(values)
    }

    /// Sets every value (`SETALL`); `values` must have one entry per semaphore.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if `values` has the wrong length;
    /// [`ErrorKind::OutOfRange`] for a value above `SEMVMX`; [`ErrorKind::PermissionDenied`].
    #[doc(alias = "SETALL")]
    pub fn set_values(&self, values: &[u16]) -> Result<()> {
        let nsems = self.stat()?.nsems;
        if values.len() != nsems {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "semctl",
                self.ctx("SETALL"),
                format!("{} values for a set of {nsems} semaphores", values.len()),
            ));
        }
        sys::sem::set_all(self.id.raw(), values)
            .map_err(|e| Error::sys("semctl", self.ctx("SETALL"), e))
    }

    /// The pid of the last process that operated on semaphore `num` (`GETPID`).
    ///
    /// # Errors
    /// As [`SemaphoreSet::value`].
    #[doc(alias = "GETPID")]
    pub fn last_pid(&self, num: u16) -> Result<i32> {
        self.ctl(num, sys::sem::GETPID, "GETPID", 0)
    }

    /// How many processes wait for semaphore `num` to increase (`GETNCNT`).
    ///
    /// # Errors
    /// As [`SemaphoreSet::value`].
    #[doc(alias = "GETNCNT")]
    pub fn waiting_for_increase(&self, num: u16) -> Result<usize> {
        self.ctl(num, sys::sem::GETNCNT, "GETNCNT", 0)
            .map(|v| v as usize)
    }

    /// How many processes wait for semaphore `num` to become zero (`GETZCNT`).
    ///
    /// # Errors
    /// As [`SemaphoreSet::value`].
    #[doc(alias = "GETZCNT")]
    pub fn waiting_for_zero(&self, num: u16) -> Result<usize> {
        self.ctl(num, sys::sem::GETZCNT, "GETZCNT", 0)
            .map(|v| v as usize)
    }

    /// Everything the kernel knows about the set (`IPC_STAT`).
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`]; [`ErrorKind::InvalidArgument`] once it is gone.
    #[doc(alias = "IPC_STAT")]
    pub fn stat(&self) -> Result<SemStat> {
        object::stat(self)
    }

    /// Sets the permission bits (`IPC_SET`).
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`].
    #[doc(alias = "IPC_SET")]
    pub fn set_mode(&self, mode: u32) -> Result<()> {
        object::set_mode(self, mode)
    }

    /// Sets the owner (`IPC_SET`).
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`].
    #[doc(alias = "IPC_SET")]
    pub fn set_owner(&self, uid: u32, gid: u32) -> Result<()> {
        object::set_owner(self, uid, gid)
    }

    /// Removes the set now (`IPC_RMID`): every process waiting on it wakes with
    /// [`ErrorKind::Removed`].
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`]
    /// if already gone.
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        object::remove(self)
    }

    /// Wraps the handle in a guard that removes the set when dropped.
    pub fn remove_on_drop(self) -> RemoveOnDrop<SemaphoreSet> {
        RemoveOnDrop::new(self)
    }
}

impl Removable for SemaphoreSet {
    fn identity(&self) -> Identity {
        object::identity(self)
    }

    fn remove_object(&self) -> Result<()> {
        self.remove()
    }
}

impl IpcObject for SemaphoreSet {
    type Id = SemId;
    type Ds = semid_ds;
    type Stat = SemStat;
    const GET: &'static str = "semget";
    const CTL: &'static str = "semctl";
    const ID_NAME: &'static str = "semid";
    // `semctl(id, 0, IPC_RMID)`: errors have always named the semaphore number.
    const RMID: &'static str = "semnum=0, IPC_RMID";
    const SYS_STAT: fn(i32) -> SysResult<semid_ds> = sys::sem::stat;
    const SYS_SET: fn(i32, &semid_ds) -> SysResult<()> = sys::sem::set;
    const SYS_REMOVE: fn(i32) -> SysResult<()> = sys::sem::remove;
    const FROM_DS: fn(SemId, &semid_ds) -> SemStat = SemStat::from_ds;
    const LIST: fn() -> Result<Vec<SemStat>> = semaphore_sets;

    fn from_parts(id: SemId, key: Key, created: bool) -> SemaphoreSet {
        SemaphoreSet { id, key, created }
    }

    fn object_id(&self) -> SemId {
        self.id
    }

    fn get(key: Key, count: usize, flags: i32) -> Result<SemId> {
        let context = || SemaphoreSet::get_context(key, count);
        let nsems = i32::try_from(count).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "semget",
                context(),
                "too many semaphores",
            )
        })?;
        sys::sem::semget(key.raw(), nsems, flags)
            .map(SemId::from_raw)
            .map_err(|e| Error::sys("semget", context(), e))
    }

    fn get_context(key: Key, count: usize) -> String {
        format!("key={key}, nsems={count}")
    }

    fn perm_mut(ds: &mut semid_ds) -> &mut ipc_perm {
        &mut ds.sem_perm
    }

    fn perm(stat: &SemStat) -> Perm<SemId> {
        Perm {
            id: stat.id,
            key: stat.key,
            uid: stat.uid,
            gid: stat.gid,
            cuid: stat.cuid,
            mode: stat.mode,
            size: Some(stat.nsems),
        }
    }

    fn identity_of(stat: &SemStat) -> Identity {
        Identity::Known(stat.key.raw(), stat.cuid, stat.nsems as u64)
    }
}
