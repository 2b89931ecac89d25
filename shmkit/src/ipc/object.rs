//! [`IpcObject`]: what a segment, a semaphore set and a message queue have in common, and
//! the code written once on top of it: the builders' create / open / open-or-create
//! ([`Request`]), the look-up by id, `IPC_STAT`, `IPC_SET` of the mode and the owner,
//! `IPC_RMID`, and the identity a [`RemoveOnDrop`](super::RemoveOnDrop) guard records.
//!
//! Each facility implements the trait with its calls and structures (`shmget`/`shmctl` and
//! `shmid_ds`, ...); its public methods call the functions here, so that every facility
//! checks, names and reports things the same way.

use super::guard::Identity;
use super::id::IpcId;
use super::trust::{checked_mode, Existing, Trust};
use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use crate::sys::ipc::{ipc_perm, zeroed, Plain, IPC_CREAT, IPC_EXCL};
use crate::sys::Errno;

/// What a `sys` call returns.
pub(crate) type SysResult<T> = std::result::Result<T, Errno>;

/// The mode an object gets when none is asked for: read-write for the owner only.
pub const DEFAULT_MODE: u32 = 0o600;

/// How many times open-or-create tries when the object keeps appearing and vanishing
/// between the exclusive create and the open.
const TRIES: usize = 16;

/// The attributes of an object that the shared code reads from its stat (or listing row).
pub(crate) struct Perm<Id> {
    pub(crate) id: Id,
    pub(crate) key: Key,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) cuid: u32,
    /// The permission bits.
    pub(crate) mode: u32,
    /// Bytes for a segment, semaphores for a set; `None` where size does not apply.
    pub(crate) size: Option<usize>,
}

/// One kind of System V IPC object: its calls, its kernel structure and its handle.
pub(crate) trait IpcObject: Sized {
    /// The kernel's id (`ShmId`, ...).
    type Id: IpcId;
    /// The kernel's structure (`shmid_ds`, ...).
    type Ds: Plain;
    /// The public stat (`SegmentStat`, ...), also a row of the listing.
    type Stat;
    /// The get call, as errors name it (`shmget`).
    const GET: &'static str;
    /// The control call, as errors name it (`shmctl`).
    const CTL: &'static str;
    /// The id's name in errors (`shmid`).
    const ID_NAME: &'static str;
    /// How errors describe the removal command after the id.
    const RMID: &'static str = "IPC_RMID";

    /// The handle to object `id`, created or opened with `key`.
    fn from_parts(id: Self::Id, key: Key, created: bool) -> Self;
    /// The handle's id.
    fn object_id(&self) -> Self::Id;

    /// The get call (`shmget(key, size, flags)`), with `size` in the facility's unit
    /// (ignored where none applies), its errors named with [`IpcObject::get_context`].
    fn get(key: Key, size: usize, flags: i32) -> Result<Self::Id>;
    /// The arguments of the get call, as errors name them (`key=0x..., size=4096`).
    fn get_context(key: Key, size: usize) -> String;

    /// `IPC_STAT` (`sys::shm::stat`, ...).
    const SYS_STAT: fn(i32) -> SysResult<Self::Ds>;
    /// `IPC_SET`.
    const SYS_SET: fn(i32, &Self::Ds) -> SysResult<()>;
    /// `IPC_RMID`.
    const SYS_REMOVE: fn(i32) -> SysResult<()>;
    /// The stat of object `id` from the kernel's structure (`SegmentStat::from_ds`, ...).
    const FROM_DS: fn(Self::Id, &Self::Ds) -> Self::Stat;
    /// Every object of this kind on the system: the facility's listing.
    const LIST: fn() -> Result<Vec<Self::Stat>>;

    /// The permission part of the kernel's structure.
    fn perm_mut(ds: &mut Self::Ds) -> &mut ipc_perm;
    /// What the shared code reads from a stat.
    fn perm(stat: &Self::Stat) -> Perm<Self::Id>;
    /// Fills what `IPC_SET` also copies beyond uid, gid and mode, from a listing row,
    /// when `IPC_STAT` was refused (a queue's byte limit).
    fn set_from_row(_ds: &mut Self::Ds, _row: &Self::Stat) {}
    /// The identity of the object this stat describes (see [`Identity`]).
    fn identity_of(stat: &Self::Stat) -> Identity;
}

/// `IPC_STAT` of `id`.
pub(crate) fn stat_ds<O: IpcObject>(id: O::Id) -> Result<O::Ds> {
    (O::SYS_STAT)(id.raw())
        .map_err(|e| Error::sys(O::CTL, format!("{}={id}, IPC_STAT", O::ID_NAME), e))
}

/// `IPC_STAT` of `object`, as its stat.
pub(crate) fn stat<O: IpcObject>(object: &O) -> Result<O::Stat> {
    let id = object.object_id();
    stat_ds::<O>(id).map(|ds| (O::FROM_DS)(id, &ds))
}

/// The object with this id, checked to exist with `IPC_STAT`; the key is the kernel's.
pub(crate) fn from_id<O: IpcObject>(id: O::Id) -> Result<O> {
    let ds = stat_ds::<O>(id)?;
    let key = O::perm(&(O::FROM_DS)(id, &ds)).key;
    Ok(O::from_parts(id, key, false))
}

/// The object with this id, without asking the kernel; the key is reported as private.
pub(crate) fn from_id_unchecked<O: IpcObject>(id: O::Id) -> O {
    O::from_parts(id, Key::PRIVATE, false)
}

/// `IPC_SET` of what `change` changes, keeping the rest.
pub(crate) fn set<O: IpcObject>(object: &O, change: impl FnOnce(&mut O::Ds)) -> Result<()> {
    // IPC_SET copies uid, gid and mode (and a queue's byte limit) from the buffer, so the
    // current values are needed first. IPC_STAT needs read permission, which IPC_SET does
    // not (the owner of a mode-0 object may change it): fall back to the system listing
    // then. Another process changing the same object between the two calls can be
    // overwritten.
    let id = object.object_id();
    let mut ds = match stat_ds::<O>(id) {
        Ok(ds) => ds,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            let row = (O::LIST)()?
                .into_iter()
                .find(|r| O::perm(r).id == id)
                .ok_or(e)?;
            let listed = O::perm(&row);
            let mut ds = zeroed::<O::Ds>();
            let perm = O::perm_mut(&mut ds);
            perm.uid = listed.uid;
            perm.gid = listed.gid;
            perm.mode = listed.mode as _;
            O::set_from_row(&mut ds, &row);
            ds
        }
        Err(e) => return Err(e),
    };
    change(&mut ds);
    (O::SYS_SET)(id.raw(), &ds)
        .map_err(|e| Error::sys(O::CTL, format!("{}={id}, IPC_SET", O::ID_NAME), e))
}

/// `IPC_SET` of the permission bits, which must be within `0o777`.
pub(crate) fn set_mode<O: IpcObject>(object: &O, mode: u32) -> Result<()> {
    let context = format!("{}={}, IPC_SET", O::ID_NAME, object.object_id());
    let mode = checked_mode(O::CTL, &context, mode)?;
    set(object, |ds| O::perm_mut(ds).mode = mode as _)
}

/// `IPC_SET` of the owner, keeping the mode.
pub(crate) fn set_owner<O: IpcObject>(object: &O, uid: u32, gid: u32) -> Result<()> {
    set(object, |ds| {
        let perm = O::perm_mut(ds);
        perm.uid = uid;
        perm.gid = gid;
    })
}

/// `IPC_RMID`.
pub(crate) fn remove<O: IpcObject>(object: &O) -> Result<()> {
    let id = object.object_id();
    (O::SYS_REMOVE)(id.raw())
        .map_err(|e| Error::sys(O::CTL, format!("{}={id}, {}", O::ID_NAME, O::RMID), e))
}

/// The object's identity now, for [`Removable::identity`](super::Removable::identity).
pub(crate) fn identity<O: IpcObject>(object: &O) -> Identity {
    match stat(object) {
        Ok(s) => O::identity_of(&s),
        Err(e) if matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::Removed) => {
            Identity::Gone
        }
        Err(_) => Identity::Unknown,
    }
}

/// The owner and creator of the object with `key`, from the listing (which shows them
/// whatever the permissions).
fn owner_of<O: IpcObject>(key: Key) -> Option<(u32, u32)> {
    let row = (O::LIST)()
        .ok()?
        .into_iter()
        .find(|r| O::perm(r).key == key)?;
    let perm = O::perm(&row);
    Some((perm.uid, perm.cuid))
}

/// What a builder asks for.
pub(crate) struct Request {
    /// The key; with [`Key::PRIVATE`] every create makes a new object.
    pub(crate) key: Key,
    /// The mode set on the builder, if any ([`DEFAULT_MODE`] to create otherwise).
    pub(crate) mode: Option<u32>,
    /// The squatting checks lifted.
    pub(crate) trust: Trust,
    /// Bytes for a segment, semaphores for a set, 0 for a queue.
    pub(crate) size: usize,
    /// Flags beyond the mode, `IPC_CREAT` and `IPC_EXCL` for creating (huge pages, ...).
    pub(crate) create_flags: i32,
}

impl Request {
    /// The mode to create with, checked.
    fn checked_mode<O: IpcObject>(&self) -> Result<u32> {
        let context = format!("key={}", self.key);
        checked_mode(O::GET, &context, self.mode.unwrap_or(DEFAULT_MODE))
    }

    fn exclusive_flags(&self, mode: u32) -> i32 {
        mode as i32 | IPC_CREAT | IPC_EXCL | self.create_flags
    }

    /// The flags to open with: a mode set on the builder is passed, and the kernel checks
    /// that the caller has it, as `shmget(key, 0, mode)` does in C.
    fn open_flags(&self, mode: u32) -> i32 {
        if self.mode.is_some() {
            mode as i32
        } else {
            0
        }
    }

    /// Creates exclusively (`IPC_CREAT | IPC_EXCL`).
    pub(crate) fn create<O: IpcObject>(&self) -> Result<O> {
        let flags = self.exclusive_flags(self.checked_mode::<O>()?);
        let id = O::get(self.key, self.size, flags)?;
        Ok(O::from_parts(id, self.key, true))
    }

    /// Opens the existing object.
    pub(crate) fn open<O: IpcObject>(&self) -> Result<O> {
        let flags = match self.mode {
            Some(_) => self.open_flags(self.checked_mode::<O>()?),
            None => 0,
        };
        let id = O::get(self.key, self.size, flags)?;
        Ok(O::from_parts(id, self.key, false))
    }

    /// Creates the object, or opens the existing one if it passes the squatting checks.
    ///
    /// The object may vanish between the failed exclusive create and the open (or the
    /// stat): then the create is tried again, a bounded number of times.
    pub(crate) fn open_or_create<O: IpcObject>(&self) -> Result<O> {
        let mode = self.checked_mode::<O>()?;
        let create = self.exclusive_flags(mode);
        let open = self.open_flags(mode);
        // The kernel refuses to open an object smaller than the size given; give none
        // unless a size mismatch is trusted, so that the check below reports it.
        let open_size = if self.trust.size { self.size } else { 0 };
        let key = self.key;
        let context = O::get_context(key, self.size);
        let explain = |e: Error| {
            self.trust
                .explain_denial(e, O::GET, context.clone(), key, owner_of::<O>)
        };
        let mut last = None;
        for _ in 0..TRIES {
            match O::get(key, self.size, create) {
                Ok(id) => return Ok(O::from_parts(id, key, true)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && !key.is_private() => {}
                Err(e) => return Err(e),
            }
            // It exists: open it. It may vanish in between (the open finds no such key, or
            // the stat no such id); then try creating again.
            let id = match O::get(key, open_size, open) {
                Ok(id) => id,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(explain(e)),
            };
            let stat = match stat_ds::<O>(id) {
                Ok(ds) => (O::FROM_DS)(id, &ds),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::Removed) => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(explain(e)),
            };
            let perm = O::perm(&stat);
            let existing = Existing {
                uid: perm.uid,
                cuid: perm.cuid,
                mode: perm.mode,
                size: perm.size,
            };
            return match self.trust.refusal(&existing, mode, self.size) {
                None => Ok(O::from_parts(id, key, false)),
                Some(why) => Err(Error::squatting(O::GET, context, why)),
            };
        }
        Err(last.unwrap_or_else(|| {
            Error::new(
                ErrorKind::Other,
                O::GET,
                context,
                "the object kept vanishing",
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::{ErrorKind, Key, MessageQueue, Segment, SemaphoreSet};

    /// `Segment::set_mode` used to check the mode inline while the semaphore set and the
    /// queue went through the builders' check, which names the key (`semctl(key=0x00000000,
    /// mode=…)`, the key unknown after `from_id_unchecked`): one check, naming the id and
    /// the command, for all three; the object keeps its mode.
    #[test]
    fn set_mode_beyond_0o777_is_refused_on_one_path_naming_the_id_for_every_facility() {
        let seg = Segment::create(Key::PRIVATE, 64).unwrap().remove_on_drop();
        let set = SemaphoreSet::create(Key::PRIVATE, 1)
            .unwrap()
            .remove_on_drop();
        let queue = MessageQueue::create(Key::PRIVATE).unwrap().remove_on_drop();
        let bits_beyond = ": mode has bits beyond 0o777";
        let cases = [
            (
                seg.set_mode(0o7777).unwrap_err(),
                format!(
                    "shmctl(shmid={}, IPC_SET, mode=0o7777){bits_beyond}",
                    seg.id()
                ),
            ),
            (
                set.set_mode(0o7777).unwrap_err(),
                format!(
                    "semctl(semid={}, IPC_SET, mode=0o7777){bits_beyond}",
                    set.id()
                ),
            ),
            (
                queue.set_mode(0o7777).unwrap_err(),
                format!(
                    "msgctl(msqid={}, IPC_SET, mode=0o7777){bits_beyond}",
                    queue.id()
                ),
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert_eq!(err.to_string(), want);
        }
        assert_eq!(seg.stat().unwrap().mode, 0o600);
        assert_eq!(set.stat().unwrap().mode, 0o600);
        assert_eq!(queue.stat().unwrap().mode, 0o600);
    }

    /// The builders' mode check names the key and the get call, for every facility.
    #[test]
    fn a_builder_mode_beyond_0o777_is_refused_naming_the_key_for_every_facility() {
        let key = Key::from_raw(0x5e7_b175);
        let bits_beyond = ": mode has bits beyond 0o777";
        let cases = [
            (
                Segment::builder(key)
                    .size(64)
                    .mode(0o1600)
                    .create()
                    .unwrap_err(),
                "shmget",
            ),
            (
                SemaphoreSet::builder(key)
                    .count(1)
                    .mode(0o1600)
                    .open_or_create()
                    .unwrap_err(),
                "semget",
            ),
            (
                MessageQueue::builder(key).mode(0o1600).open().unwrap_err(),
                "msgget",
            ),
        ];
        for (err, call) in cases {
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert_eq!(
                err.to_string(),
                format!("{call}(key=0x05e7b175, mode=0o1600){bits_beyond}")
            );
        }
    }
}
