//! The system's IPC objects as the `shmkit` subcommands and [`crate::format`] see them: the
//! three kinds, one object with everything `stat` shows, the listing that `ls`, `watch` and
//! `rm --stale` work from, finding an object by id or by key, and whether it is stale.
//!
//! # Stale objects
//! An object is *stale* when, as far as can be told, it is what a finished or crashed
//! program left behind: `rm --stale` removes such objects, so the rule leans one way, and
//! in doubt an object is "unknown", never stale. One rule covers the three kinds; an object
//! is stale when all three of these hold:
//!
//! 1. **It was used.** The kernel recorded a use: a segment was attached (`atime` not 0), a
//!    set was operated on with `semop` (`otime` not 0), a queue was sent to or received from
//!    (`stime` or `rtime` not 0). An object nobody has used yet is never stale, whoever
//!    created it and whether its creator still runs: a set-up script that creates objects
//!    (`shmkit mk`, `ipcmk`) and then starts their users must not race against
//!    `rm --stale`. Creating an object, setting its mode or initialising a set's values
//!    (`SETVAL`, `SETALL`) is not a use.
//! 2. **Nothing uses it now.** A segment has no attachments (`nattch` 0) and is not marked
//!    for removal; nobody waits on a set (`ncnt` and `zcnt` are 0 for every semaphore); a
//!    queue is empty (`qnum` 0: removing it would lose its messages).
//! 3. **Every process recorded as its user is gone.** For a segment its creator (`cpid`)
//!    and the last process that attached or detached it (`lpid`); for a set the last
//!    process that changed each semaphore (`GETPID`); for a queue its last sender and
//!    receiver (`lspid`, `lrpid`).
//!
//! "Gone" means that the kernel answers `kill(pid, 0)` with `ESRCH`
//! ([`shmkit_os::process_exists`]; `EPERM` means the process exists). Staleness is unknown
//! when that cannot answer: a used object whose pid is 0 where the kernel records one (it
//! reports 0 for a process outside this pid namespace: a segment's `cpid` or `lpid`, a
//! queue's `lspid` after a send or `lrpid` after a receive, every semaphore's pid of a set
//! that was operated on), or a used set whose semaphores this user may not read. A pid that
//! was reused by a new process makes an object look in use: the safe mistake.

use crate::error::{Error, Result};
use shmkit::{
    info, ErrorKind, Key, MessageQueue, MsgId, MsgStat, Segment, SegmentStat, SemId, SemStat,
    SemaphoreSet, ShmId,
};

/// The three System V IPC facilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Shared-memory segments.
    Shm,
    /// Semaphore sets.
    Sem,
    /// Message queues.
    Msg,
}

impl Kind {
    /// Every kind, in the order `ls` prints them.
    pub(crate) const ALL: [Kind; 3] = [Kind::Shm, Kind::Sem, Kind::Msg];

    /// The short name used in output and JSON: `shm`, `sem` or `msg`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Shm => "shm",
            Kind::Sem => "sem",
            Kind::Msg => "msg",
        }
    }

    /// One object of this kind, in words.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Shm => "shared-memory segment",
            Kind::Sem => "semaphore set",
            Kind::Msg => "message queue",
        }
    }
}

/// Which kinds a command covers: the ones whose flags were given, or all when none was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kinds {
    shm: bool,
    sem: bool,
    msg: bool,
}

impl Kinds {
    /// The kinds of the flags given; every kind when no flag was given.
    pub(crate) fn from_flags(shm: bool, sem: bool, msg: bool) -> Kinds {
        if shm || sem || msg {
            Kinds { shm, sem, msg }
        } else {
            Kinds::all()
        }
    }

    /// Every kind.
    pub(crate) fn all() -> Kinds {
        Kinds {
            shm: true,
            sem: true,
            msg: true,
        }
    }

    /// Whether `kind` is covered.
    pub(crate) fn contains(self, kind: Kind) -> bool {
        match kind {
            Kind::Shm => self.shm,
            Kind::Sem => self.sem,
            Kind::Msg => self.msg,
        }
    }

    /// The covered kinds, in `ls` order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |&k| self.contains(k))
    }
}

/// Whether an object is stale (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stale {
    /// Stale: `rm --stale` removes it.
    Yes,
    /// In use, or possibly about to be.
    No,
    /// Cannot tell; treated as not stale.
    Unknown,
}

impl Stale {
    /// `yes`, `no` or `?`, for tables.
    pub(crate) fn text(self) -> &'static str {
        match self {
            Stale::Yes => "yes",
            Stale::No => "no",
            Stale::Unknown => "?",
        }
    }

    /// `true`, `false` or `null`, for JSON.
    pub(crate) fn json(self) -> serde_json::Value {
        match self {
            Stale::Yes => true.into(),
            Stale::No => false.into(),
            Stale::Unknown => serde_json::Value::Null,
        }
    }
}

/// What can be told about processes: whether one still exists, asked of the kernel with
/// `kill(pid, 0)` through [`shmkit_os::process_exists`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Processes {
    /// Whether `/proc` shows processes at all (judged by `/proc/1`, which every pid
    /// namespace has and `hidepid=2` hides from other users).
    visible: bool,
}

/// Whether a process exists, as far as can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// The process exists.
    Running,
    /// No such process (`ESRCH`).
    Gone,
    /// Cannot tell (pid 0 or negative: outside this pid namespace, or never recorded).
    Unknown,
}

impl Processes {
    /// A liveness oracle (the kernel always answers; `visible` is kept for the tests that
    /// model a system where nothing can be told).
    pub(crate) fn new() -> Processes {
        Processes { visible: true }
    }

    /// Whether `pid` exists.
    pub(crate) fn liveness(&self, pid: i32) -> Liveness {
        if !self.visible || pid <= 0 {
            return Liveness::Unknown;
        }
        match shmkit_os::process_exists(pid) {
            Some(true) => Liveness::Running,
            Some(false) => Liveness::Gone,
            None => Liveness::Unknown,
        }
    }

    /// Whether every pid in `pids` that is not 0 is gone: `None` when all are 0 (nobody
    /// recorded), else [`Stale::Yes`] if all are gone, [`Stale::No`] if one is running,
    /// [`Stale::Unknown`] otherwise.
    fn all_gone(&self, pids: impl IntoIterator<Item = i32>) -> Option<Stale> {
        let mut verdict = None;
        for pid in pids.into_iter().filter(|&pid| pid != 0) {
            match self.liveness(pid) {
                Liveness::Running => return Some(Stale::No),
                Liveness::Gone => {
                    verdict.get_or_insert(Stale::Yes);
                }
                Liveness::Unknown => verdict = Some(Stale::Unknown),
            }
        }
        verdict
    }

    /// Whether a segment is stale: attached once (`atime`), not attached now, not marked
    /// for removal, and its creator and last attacher are gone. `lpid` is set by every
    /// attach and detach, so a segment attached once with `lpid` 0 was attached from
    /// outside this pid namespace: unknown.
    pub(crate) fn segment_stale(&self, stat: &SegmentStat) -> Stale {
        if stat.atime == 0 || stat.nattch > 0 || stat.dest {
            return Stale::No;
        }
        if stat.cpid <= 0 || stat.lpid <= 0 {
            return Stale::Unknown;
        }
        self.all_gone([stat.cpid, stat.lpid])
            .unwrap_or(Stale::Unknown)
    }

    /// Whether a semaphore set is stale, given its `otime` and its semaphores (`None`: not
    /// readable): operated on once, nobody waits on it, and the last process that changed
    /// each semaphore is gone (a semaphore nobody changed has pid 0; when every one has,
    /// the users were outside this pid namespace: unknown).
    pub(crate) fn set_stale(&self, otime: i64, semaphores: Option<&[Semaphore]>) -> Stale {
        if otime == 0 {
            return Stale::No;
        }
        let Some(semaphores) = semaphores else {
            return Stale::Unknown;
        };
        if semaphores.iter().any(|s| s.ncnt > 0 || s.zcnt > 0) {
            return Stale::No;
        }
        self.all_gone(semaphores.iter().map(|s| s.pid))
            .unwrap_or(Stale::Unknown)
    }

    /// Whether a message queue is stale: sent to or received from once, empty, and its
    /// last sender and receiver are gone. A send (`stime`) with no sender pid, or a receive
    /// (`rtime`) with no receiver pid, happened outside this pid namespace: unknown.
    pub(crate) fn queue_stale(&self, stat: &MsgStat) -> Stale {
        if (stat.stime == 0 && stat.rtime == 0) || stat.qnum > 0 {
            return Stale::No;
        }
        if (stat.stime != 0 && stat.lspid <= 0) || (stat.rtime != 0 && stat.lrpid <= 0) {
            return Stale::Unknown;
        }
        self.all_gone([stat.lspid, stat.lrpid])
            .unwrap_or(Stale::Unknown)
    }
}

/// One semaphore of a set, as `stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Semaphore {
    /// Its index in the set.
    pub(crate) num: usize,
    /// Its value (`GETVAL`).
    pub(crate) value: u16,
    /// How many processes wait for it to increase (`GETNCNT`).
    pub(crate) ncnt: usize,
    /// How many processes wait for it to become zero (`GETZCNT`).
    pub(crate) zcnt: usize,
    /// The last process that operated on it (`GETPID`), 0 for none.
    pub(crate) pid: i32,
}

/// One IPC object with everything the commands show about it.
#[derive(Debug, Clone)]
pub(crate) enum Object {
    /// A shared-memory segment.
    Shm {
        /// The kernel's view of it.
        stat: SegmentStat,
        /// Whether it is stale.
        stale: Stale,
    },
    /// A semaphore set.
    Sem {
        /// The kernel's view of it.
        stat: SemStat,
        /// Its semaphores, or `None` when this user may not read them.
        semaphores: Option<Vec<Semaphore>>,
        /// Whether it is stale.
        stale: Stale,
    },
    /// A message queue.
    Msg {
        /// The kernel's view of it.
        stat: MsgStat,
        /// Whether it is stale.
        stale: Stale,
    },
}

impl Object {
    /// A segment and its staleness.
    fn segment(stat: SegmentStat, procs: &Processes) -> Object {
        let stale = procs.segment_stale(&stat);
        Object::Shm { stat, stale }
    }

    /// A set, its semaphores (where readable) and its staleness.
    fn set(stat: SemStat, procs: &Processes) -> Object {
        let semaphores = read_semaphores(stat.id);
        let stale = procs.set_stale(stat.otime, semaphores.as_deref());
        Object::Sem {
            stat,
            semaphores,
            stale,
        }
    }

    /// A queue and its staleness.
    fn queue(stat: MsgStat, procs: &Processes) -> Object {
        let stale = procs.queue_stale(&stat);
        Object::Msg { stat, stale }
    }

    /// Which kind it is.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Object::Shm { .. } => Kind::Shm,
            Object::Sem { .. } => Kind::Sem,
            Object::Msg { .. } => Kind::Msg,
        }
    }

    /// The raw id.
    pub(crate) fn id(&self) -> i32 {
        match self {
            Object::Shm { stat, .. } => stat.id.raw(),
            Object::Sem { stat, .. } => stat.id.raw(),
            Object::Msg { stat, .. } => stat.id.raw(),
        }
    }

    /// The key.
    pub(crate) fn key(&self) -> Key {
        match self {
            Object::Shm { stat, .. } => stat.key,
            Object::Sem { stat, .. } => stat.key,
            Object::Msg { stat, .. } => stat.key,
        }
    }

    /// Whether it is stale.
    pub(crate) fn stale(&self) -> Stale {
        match self {
            Object::Shm { stale, .. } | Object::Sem { stale, .. } | Object::Msg { stale, .. } => {
                *stale
            }
        }
    }

    /// What stays the same over the object's life, to tell it from a later object that
    /// got the same id: kind, id, key, creator uid and gid, and creation (or last change)
    /// time.
    pub(crate) fn identity(&self) -> (Kind, i32, Key, u32, u32, i64) {
        let (cuid, cgid, ctime) = match self {
            Object::Shm { stat, .. } => (stat.cuid, stat.cgid, stat.ctime),
            Object::Sem { stat, .. } => (stat.cuid, stat.cgid, stat.ctime),
            Object::Msg { stat, .. } => (stat.cuid, stat.cgid, stat.ctime),
        };
        (self.kind(), self.id(), self.key(), cuid, cgid, ctime)
    }

    /// Removes it (`IPC_RMID`). A segment that is still attached is destroyed at its last
    /// detach.
    ///
    /// # Errors
    /// The library's: no permission to read it (the handle is made with `IPC_STAT`) or to
    /// remove it; gone already.
    pub(crate) fn remove(&self) -> shmkit::Result<()> {
        match self {
            Object::Shm { stat, .. } => Segment::from_id(stat.id)?.remove(),
            Object::Sem { stat, .. } => SemaphoreSet::from_id(stat.id)?.remove(),
            Object::Msg { stat, .. } => MessageQueue::from_id(stat.id)?.remove(),
        }
    }
}

/// The semaphores of set `id`, or `None` when they cannot be read (no read permission, or
/// the set vanished meanwhile).
fn read_semaphores(id: SemId) -> Option<Vec<Semaphore>> {
    let set = SemaphoreSet::from_id(id).ok()?;
    let values = set.values().ok()?;
    values
        .into_iter()
        .enumerate()
        .map(|(num, value)| {
            let n = u16::try_from(num).ok()?;
            Some(Semaphore {
                num,
                value,
                ncnt: set.waiting_for_increase(n).ok()?,
                zcnt: set.waiting_for_zero(n).ok()?,
                pid: set.last_pid(n).ok()?,
            })
        })
        .collect()
}

/// Every object of the kinds in `kinds`: segments, then sets, then queues, each by id.
///
/// # Errors
/// The library's listing errors.
pub(crate) fn list(kinds: Kinds, procs: &Processes) -> Result<Vec<Object>> {
    let mut objects = Vec::new();
    for kind in kinds.iter() {
        objects.extend(list_kind(kind, procs)?);
    }
    Ok(objects)
}

/// Every object of one kind, by id.
fn list_kind(kind: Kind, procs: &Processes) -> Result<Vec<Object>> {
    let mut objects: Vec<Object> = match kind {
        Kind::Shm => info::segments()?
            .into_iter()
            .map(|s| Object::segment(s, procs))
            .collect(),
        Kind::Sem => info::semaphore_sets()?
            .into_iter()
            .map(|s| Object::set(s, procs))
            .collect(),
        Kind::Msg => info::message_queues()?
            .into_iter()
            .map(|s| Object::queue(s, procs))
            .collect(),
    };
    objects.sort_by_key(Object::id);
    Ok(objects)
}

/// The object of `kind` with id `id`. It is looked up in the system listing, which shows
/// every object whatever its permissions (and a segment's resident and swapped bytes); a
/// queue readable with `IPC_STAT` is taken from there, which also knows its `qbytes`.
///
/// # Errors
/// No such object (a message naming the kind and the id); the library's listing errors.
pub(crate) fn by_id(kind: Kind, id: i32, procs: &Processes) -> Result<Object> {
    let found = match kind {
        Kind::Shm => info::segments()?
            .into_iter()
            .find(|s| s.id == ShmId::from_raw(id))
            .map(|s| Object::segment(s, procs)),
        Kind::Sem => info::semaphore_sets()?
            .into_iter()
            .find(|s| s.id == SemId::from_raw(id))
            .map(|s| Object::set(s, procs)),
        Kind::Msg => info::message_queues()?
            .into_iter()
            .find(|s| s.id == MsgId::from_raw(id))
            .map(|row| {
                let stat = MessageQueue::from_id(row.id)
                    .and_then(|q| q.stat())
                    .unwrap_or(row);
                Object::queue(stat, procs)
            }),
    };
    found.ok_or_else(|| Error::Message(format!("no {} has id {id}", kind.noun())))
}

/// The objects named `key`, among the kinds in `kinds` (each facility has its own keys, so
/// a key can name one object of each kind).
///
/// # Errors
/// [`Key::PRIVATE`], which names no object; no object with the key; the library's listing
/// errors.
pub(crate) fn by_key(kinds: Kinds, key: Key, procs: &Processes) -> Result<Vec<Object>> {
    if key.is_private() {
        return Err(Error::Message(format!(
            "key {key} is IPC_PRIVATE, which names no object: use the id"
        )));
    }
    let mut found = Vec::new();
    for kind in kinds.iter() {
        found.extend(
            list_kind(kind, procs)?
                .into_iter()
                .filter(|o| o.key() == key),
        );
    }
    if found.is_empty() {
        let what = match kinds.iter().collect::<Vec<_>>()[..] {
            [kind] => kind.noun(),
            _ => "object",
        };
        return Err(Error::Message(format!("no {what} has key {key}")));
    }
    Ok(found)
}

/// The one object named `key`; with several (a key names one object per kind), an error
/// that lists them and says how to pick one (`how`).
///
/// # Errors
/// As [`by_key`], and several objects with the key.
pub(crate) fn one_by_key(kinds: Kinds, key: Key, procs: &Processes, how: &str) -> Result<Object> {
    let mut found = by_key(kinds, key, procs)?;
    if found.len() > 1 {
        let names: Vec<String> = found
            .iter()
            .map(|o| format!("a {} (id {})", o.kind().noun(), o.id()))
            .collect();
        let (last, rest) = names.split_last().unwrap_or((&names[0], &[]));
        return Err(Error::Message(format!(
            "key {key} names {} and {last}: {how}",
            rest.join(", ")
        )));
    }
    Ok(found.remove(0))
}

/// A handle to segment `id`, checked to exist.
///
/// # Errors
/// No such segment (a message naming the id); no permission to read it (`IPC_STAT`).
pub(crate) fn segment(id: i32) -> Result<Segment> {
    Segment::from_id(ShmId::from_raw(id)).map_err(|e| {
        if is_gone(&e) {
            Error::Message(format!("no {} has id {id}", Kind::Shm.noun()))
        } else {
            e.into()
        }
    })
}

/// Parses an object id: a number from 0 to `i32::MAX`.
///
/// # Errors
/// A message for clap to show after the value.
pub(crate) fn parse_id(text: &str) -> Result<i32, String> {
    match text.parse::<i32>() {
        Ok(id) if id >= 0 => Ok(id),
        _ => Err("expected an id: a number from 0 to 2147483647".to_owned()),
    }
}

/// Whether an error means the object no longer exists (it went away between the listing
/// and the call).
pub(crate) fn is_gone(e: &shmkit::Error) -> bool {
    matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::Removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sem(pid: i32, ncnt: usize) -> Semaphore {
        Semaphore {
            num: 0,
            value: 0,
            ncnt,
            zcnt: 0,
            pid,
        }
    }

    /// A pid that exists for no process: above the kernel's largest `pid_max`.
    const NO_SUCH_PID: i32 = 4_194_304 + 1;

    #[test]
    fn kinds_default_to_all() {
        assert_eq!(
            Kinds::from_flags(false, false, false).iter().count(),
            3,
            "no flag is every kind"
        );
        let only_sem: Vec<Kind> = Kinds::from_flags(false, true, false).iter().collect();
        assert_eq!(only_sem, vec![Kind::Sem]);
    }

    #[test]
    fn liveness_of_this_process_and_of_no_process() {
        let procs = Processes::new();
        if !procs.visible {
            return; // no /proc here: everything is unknown, which other tests cover
        }
        let me = i32::try_from(std::process::id()).unwrap();
        assert_eq!(procs.liveness(me), Liveness::Running);
        assert_eq!(procs.liveness(NO_SUCH_PID), Liveness::Gone);
        assert_eq!(procs.liveness(0), Liveness::Unknown);
    }

    /// A time stamp that is not 0: "used".
    const USED: i64 = 1_700_000_000;

    #[test]
    fn set_rules() {
        let procs = Processes::new();
        if !procs.visible {
            return;
        }
        let me = i32::try_from(std::process::id()).unwrap();
        assert_eq!(procs.set_stale(USED, None), Stale::Unknown, "unreadable");
        assert_eq!(procs.set_stale(0, None), Stale::No, "never operated on");
        assert_eq!(
            procs.set_stale(0, Some(&[sem(NO_SUCH_PID, 0)])),
            Stale::No,
            "initialised (SETVAL) by a process now gone, never operated on"
        );
        assert_eq!(
            procs.set_stale(USED, Some(&[sem(0, 0)])),
            Stale::Unknown,
            "operated on, but no pid recorded"
        );
        assert_eq!(
            procs.set_stale(USED, Some(&[sem(NO_SUCH_PID, 0)])),
            Stale::Yes
        );
        assert_eq!(
            procs.set_stale(USED, Some(&[sem(NO_SUCH_PID, 0), sem(0, 0)])),
            Stale::Yes,
            "a semaphore nobody changed does not count"
        );
        assert_eq!(
            procs.set_stale(USED, Some(&[sem(NO_SUCH_PID, 0), sem(me, 0)])),
            Stale::No,
            "one user still runs"
        );
        assert_eq!(
            procs.set_stale(USED, Some(&[sem(NO_SUCH_PID, 1)])),
            Stale::No,
            "someone waits"
        );
    }

    #[test]
    fn nothing_is_stale_without_proc() {
        let procs = Processes { visible: false };
        assert_eq!(procs.liveness(1), Liveness::Unknown);
        assert_eq!(
            procs.set_stale(USED, Some(&[sem(NO_SUCH_PID, 0)])),
            Stale::Unknown
        );
    }

    #[test]
    fn segment_rules() {
        let procs = Processes::new();
        if !procs.visible {
            return;
        }
        let segment = Segment::builder(Key::PRIVATE)
            .size(1)
            .create()
            .unwrap()
            .remove_on_drop();
        let fresh = segment.stat().unwrap();
        assert_eq!(fresh.atime, 0);
        assert_eq!(procs.segment_stale(&fresh), Stale::No, "never attached");
        let mut stat = fresh.clone();
        stat.cpid = NO_SUCH_PID;
        assert_eq!(
            procs.segment_stale(&stat),
            Stale::No,
            "creator gone, but never attached: its users may be about to start"
        );
        stat.atime = USED;
        stat.dtime = USED;
        stat.lpid = fresh.cpid;
        assert_eq!(procs.segment_stale(&stat), Stale::No, "last attacher runs");
        stat.lpid = NO_SUCH_PID;
        assert_eq!(procs.segment_stale(&stat), Stale::Yes);
        stat.nattch = 1;
        assert_eq!(procs.segment_stale(&stat), Stale::No, "attached");
        stat.nattch = 0;
        stat.dest = true;
        assert_eq!(procs.segment_stale(&stat), Stale::No, "marked for removal");
        stat.dest = false;
        stat.lpid = 0;
        assert_eq!(
            procs.segment_stale(&stat),
            Stale::Unknown,
            "attached from outside this pid namespace"
        );
        stat.lpid = NO_SUCH_PID;
        stat.cpid = 0;
        assert_eq!(
            procs.segment_stale(&stat),
            Stale::Unknown,
            "creator outside this pid namespace"
        );
        stat.cpid = fresh.cpid;
        assert_eq!(procs.segment_stale(&stat), Stale::No, "creator runs");
    }

    #[test]
    fn queue_rules() {
        let procs = Processes::new();
        if !procs.visible {
            return;
        }
        let queue = MessageQueue::create(Key::PRIVATE).unwrap().remove_on_drop();
        let fresh = queue.stat().unwrap();
        assert_eq!(procs.queue_stale(&fresh), Stale::No, "never used");
        let mut stat = fresh.clone();
        stat.stime = USED;
        stat.lspid = NO_SUCH_PID;
        assert_eq!(
            procs.queue_stale(&stat),
            Stale::Yes,
            "sender gone, no receiver"
        );
        stat.qnum = 1;
        assert_eq!(
            procs.queue_stale(&stat),
            Stale::No,
            "messages would be lost"
        );
        stat.qnum = 0;
        stat.rtime = USED;
        stat.lrpid = i32::try_from(std::process::id()).unwrap();
        assert_eq!(procs.queue_stale(&stat), Stale::No, "receiver runs");
        stat.lrpid = 0;
        assert_eq!(
            procs.queue_stale(&stat),
            Stale::Unknown,
            "received from outside this pid namespace"
        );
    }

    #[test]
    fn ids() {
        assert_eq!(parse_id("0"), Ok(0));
        assert_eq!(parse_id("2147483647"), Ok(i32::MAX));
        for bad in ["", "-1", "2147483648", "0x10", "x"] {
            assert!(parse_id(bad).is_err(), "{bad:?} parsed");
        }
    }
}
