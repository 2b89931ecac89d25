//! System V semaphore sets: create or open by key, apply batches of operations atomically
//! (with `SEM_UNDO`, no-wait, timeouts), read and set values, stat, remove; and [`SemLock`],
//! a cross-process lock that the kernel releases when its holder dies.
//!
//! ```
//! use shmkit::{Key, SemOp, SemaphoreSet};
//!
//! let set = SemaphoreSet::create(Key::PRIVATE, 2)?.remove_on_drop();
//! set.set_value(0, 1)?;
//! set.op(&[SemOp::new(0, -1).undo(), SemOp::new(1, 1)])?; // both, atomically
//! assert_eq!(set.values()?, vec![0, 1]);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # References
//! - [`semget(2)`](https://man7.org/linux/man-pages/man2/semget.2.html)
//! - [`semop(2)`](https://man7.org/linux/man-pages/man2/semop.2.html)
//! - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html)

use crate::error::{Error, ErrorKind, Result};
use crate::guard::{Identity, Removable, RemoveOnDrop};
use crate::key::Key;
use crate::sys;
use crate::sys::sem::{sembuf, semid_ds, semun};
use crate::trust::{self, Existing, OpenOrCreate, Trust};
use crate::DEFAULT_MODE;
use std::time::{Duration, Instant};

crate::id::ipc_id! {
    /// The kernel's identifier of a semaphore set (`semid`).
    ///
    /// # References
    /// - [`semget(2)`](https://man7.org/linux/man-pages/man2/semget.2.html)
    #[doc(alias = "semid")]
    SemId
}

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
        self.flags |= sys::sem::IPC_NOWAIT as i16;
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

    fn sembuf(self) -> sembuf {
        sembuf {
            sem_num: self.num,
            sem_op: self.delta,
            sem_flg: self.flags,
        }
    }

    fn is_no_wait(self) -> bool {
        self.flags & sys::sem::IPC_NOWAIT as i16 != 0
    }
}

/// Everything the kernel knows about a semaphore set (`struct semid_ds`, or a row of
/// `/proc/sysvipc/sem`). Times are seconds since the epoch, 0 for never.
///
/// # References
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html), `IPC_STAT`
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemStat {
    /// The key (`sem_perm.__key`).
    pub key: Key,
    /// The id.
    pub id: SemId,
    /// The owner's user id.
    pub uid: u32,
    /// The owner's group id.
    pub gid: u32,
    /// The creator's user id.
    pub cuid: u32,
    /// The creator's group id.
    pub cgid: u32,
    /// The permission bits.
    pub mode: u32,
    /// How many semaphores the set has (`sem_nsems`).
    pub nsems: usize,
    /// The last `semop` (`sem_otime`).
    pub otime: i64,
    /// The creation or last change (`sem_ctime`).
    pub ctime: i64,
}

impl SemStat {
    // The field types are aliases that differ across targets (u32 on 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn from_ds(id: SemId, ds: &semid_ds) -> SemStat {
        SemStat {
            key: Key::from_raw(ds.sem_perm.__key),
            id,
            uid: ds.sem_perm.uid,
            gid: ds.sem_perm.gid,
            cuid: ds.sem_perm.cuid,
            cgid: ds.sem_perm.cgid,
            mode: u32::from(ds.sem_perm.mode) & 0o777,
            nsems: ds.sem_nsems as usize,
            otime: ds.sem_otime as i64,
            ctime: ds.sem_ctime as i64,
        }
    }
}

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

    fn checked_mode(&self) -> Result<u32> {
        trust::checked_mode("semget", self.key, self.mode.unwrap_or(DEFAULT_MODE))
    }

    fn nsems(&self) -> Result<i32> {
        i32::try_from(self.count).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "semget",
                format!("key={}, nsems={}", self.key, self.count),
                "too many semaphores",
            )
        })
    }

    /// Creates a new set exclusively (`IPC_CREAT | IPC_EXCL`); every value starts at 0.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::InvalidArgument`] for a count of 0 or
    /// above `SEMMSL`; [`ErrorKind::LimitExceeded`] at `SEMMNI` or `SEMMNS`.
    #[doc(alias = "semget")]
    pub fn create(self) -> Result<SemaphoreSet> {
        let flags = self.checked_mode()? as i32 | sys::shm::IPC_CREAT | sys::shm::IPC_EXCL;
        let id = semget(self.key, self.nsems()?, flags)?;
        Ok(SemaphoreSet {
            id,
            key: self.key,
            created: true,
        })
    }

    /// Opens the existing set with this key. A count set here must not exceed the set's.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::PermissionDenied`] if an explicit mode is not
    /// granted; [`ErrorKind::InvalidArgument`] if the count is larger than the set's.
    #[doc(alias = "semget")]
    pub fn open(self) -> Result<SemaphoreSet> {
        let request = match self.mode {
            Some(_) => self.checked_mode()? as i32,
            None => 0,
        };
        let id = semget(self.key, self.nsems()?, request)?;
        Ok(SemaphoreSet {
            id,
            key: self.key,
            created: false,
        })
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
        let mode = self.checked_mode()?;
        let nsems = self.nsems()?;
        let flags = mode as i32 | sys::shm::IPC_CREAT | sys::shm::IPC_EXCL;
        let request = if self.mode.is_some() { mode as i32 } else { 0 };
        let open_nsems = if self.trust.size { nsems } else { 0 };
        let key = self.key;
        let handle = |id, created| SemaphoreSet { id, key, created };
        trust::open_or_create(OpenOrCreate {
            key,
            call: "semget",
            context: format!("key={key}, nsems={nsems}"),
            trust: self.trust,
            mode,
            size: self.count,
            create: &|| semget(key, nsems, flags).map(|id| handle(id, true)),
            open: &|| semget(key, open_nsems, request).map(|id| handle(id, false)),
            existing: &|set| {
                set.stat().map(|s| Existing {
                    uid: s.uid,
                    cuid: s.cuid,
                    mode: s.mode,
                    size: Some(s.nsems),
                })
            },
            owner_of: &|key| {
                let row = crate::info::semaphore_sets()
                    .ok()?
                    .into_iter()
                    .find(|r| r.key == key)?;
                Some((row.uid, row.cuid))
            },
        })
    }
}

fn semget(key: Key, nsems: i32, flags: i32) -> Result<SemId> {
    sys::sem::semget(key.raw(), nsems, flags)
        .map(SemId)
        .map_err(|e| Error::sys("semget", format!("key={key}, nsems={nsems}"), e))
}

/// How many operations fit in the stack buffer of one `semop` call.
const INLINE_OPS: usize = 8;

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
        let ds = stat_id(id)?;
        Ok(SemaphoreSet {
            id,
            key: Key::from_raw(ds.sem_perm.__key),
            created: false,
        })
    }

    /// A handle to the object with this id, without asking the kernel anything: for
    /// callers that act on an id they were given (remove, set) where `IPC_STAT` may be
    /// refused (the owner of a mode-0 object may still remove it). The key is unknown and
    /// reported as [`Key::PRIVATE`]; every operation fails cleanly if the id names nothing.
    ///
    /// # References
    /// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html)
    pub fn from_id_unchecked(id: SemId) -> SemaphoreSet {
        SemaphoreSet {
            id,
            key: Key::PRIVATE,
            created: false,
        }
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
        with_sembufs(ops, |bufs| sys::sem::semop(self.id.0, bufs))
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
            match with_sembufs(ops, |bufs| sys::sem::semtimedop(self.id.0, bufs, remaining)) {
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
        sys::sem::semctl(self.id.0, i32::from(num), cmd, semun { val })
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
        sys::sem::get_all(self.id.0, &mut values)
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
        sys::sem::set_all(self.id.0, values)
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
        stat_id(self.id).map(|ds| SemStat::from_ds(self.id, &ds))
    }

    /// Sets the permission bits (`IPC_SET`).
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`].
    #[doc(alias = "IPC_SET")]
    pub fn set_mode(&self, mode: u32) -> Result<()> {
        let mode = trust::checked_mode("semctl", self.key, mode)?;
        self.set(|ds| ds.sem_perm.mode = mode as _)
    }

    /// Sets the owner (`IPC_SET`).
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`].
    #[doc(alias = "IPC_SET")]
    pub fn set_owner(&self, uid: u32, gid: u32) -> Result<()> {
        self.set(|ds| {
            ds.sem_perm.uid = uid;
            ds.sem_perm.gid = gid;
        })
    }

    fn set(&self, change: impl FnOnce(&mut semid_ds)) -> Result<()> {
        // As for segments: IPC_SET needs ownership, not read permission.
        let mut ds = match stat_id(self.id) {
            Ok(ds) => ds,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                let row = crate::info::semaphore_sets()?
                    .into_iter()
                    .find(|r| r.id == self.id)
                    .ok_or(e)?;
                let mut ds = sys::sem::zeroed_ds();
                ds.sem_perm.uid = row.uid;
                ds.sem_perm.gid = row.gid;
                ds.sem_perm.mode = row.mode as _;
                ds
            }
            Err(e) => return Err(e),
        };
        change(&mut ds);
        sys::sem::set(self.id.0, &ds).map_err(|e| Error::sys("semctl", self.ctx("IPC_SET"), e))
    }

    /// Removes the set now (`IPC_RMID`): every process waiting on it wakes with
    /// [`ErrorKind::Removed`].
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`]
    /// if already gone.
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        self.ctl(0, sys::IPC_RMID, "IPC_RMID", 0).map(drop)
    }

    /// Wraps the handle in a guard that removes the set when dropped.
    pub fn remove_on_drop(self) -> RemoveOnDrop<SemaphoreSet> {
        RemoveOnDrop::new(self)
    }
}

fn stat_id(id: SemId) -> Result<semid_ds> {
    sys::sem::stat(id.0, sys::IPC_STAT)
        .map(|(_, ds)| ds)
        .map_err(|e| Error::sys("semctl", format!("semid={id}, IPC_STAT"), e))
}

/// Runs `f` on the ops as `sembuf`s, on the stack for small batches.
fn with_sembufs<R>(ops: &[SemOp], f: impl FnOnce(&mut [sembuf]) -> R) -> R {
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

impl Removable for SemaphoreSet {
    fn identity(&self) -> Identity {
        match self.stat() {
            Ok(s) => Identity::Known(s.key.raw(), s.cuid, s.nsems as u64),
            Err(e) if matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::Removed) => {
                Identity::Gone
            }
            Err(_) => Identity::Unknown,
        }
    }

    fn remove_object(&self) -> Result<()> {
        self.remove()
    }
}

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
