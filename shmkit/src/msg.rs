//! System V message queues: create or open by key, send typed messages, receive by
//! selector (any, exactly a type, the lowest type up to n, any but a type), peek without
//! removing, stat, change the byte limit, remove.
//!
//! ```
//! use shmkit::{Key, MessageQueue, Selector};
//!
//! let queue = MessageQueue::create(Key::PRIVATE)?.remove_on_drop();
//! queue.send(2, b"second")?;
//! queue.send(1, b"first")?;
//! let mut buf = [0u8; 64];
//! let (mtype, len) = queue.recv(Selector::UpTo(5), &mut buf)?; // lowest type first
//! assert_eq!((mtype, &buf[..len]), (1, &b"first"[..]));
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # References
//! - [`msgget(2)`](https://man7.org/linux/man-pages/man2/msgget.2.html)
//! - [`msgop(2)`](https://man7.org/linux/man-pages/man2/msgop.2.html)
//! - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html)

use crate::error::{Error, ErrorKind, Result};
use crate::guard::{Identity, Removable, RemoveOnDrop};
use crate::key::Key;
use crate::sys;
use crate::sys::msg::msqid_ds;
use crate::trust::{self, Existing, OpenOrCreate, Trust};
use crate::DEFAULT_MODE;

crate::id::ipc_id! {
    /// The kernel's identifier of a message queue (`msqid`).
    ///
    /// # References
    /// - [`msgget(2)`](https://man7.org/linux/man-pages/man2/msgget.2.html)
    #[doc(alias = "msqid")]
    MsgId
}

/// Which message [`MessageQueue::recv`] takes (`msgtyp` and `MSG_EXCEPT`).
///
/// # References
/// - [`msgop(2)`](https://man7.org/linux/man-pages/man2/msgop.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// The first message of any type (`msgtyp` 0).
    Any,
    /// The first message of exactly this type (`msgtyp` > 0).
    Type(i64),
    /// The first message of the lowest type that is at most this (`msgtyp` < 0).
    UpTo(i64),
    /// The first message of any type but this one (`MSG_EXCEPT`).
    Except(i64),
}

impl Selector {
    fn msgtyp_and_flags(self) -> Result<(i64, i32)> {
        let check = |n: i64| {
            if n > 0 {
                Ok(n)
            } else {
                Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "msgrcv",
                    format!("{self:?}"),
                    "a message type must be positive",
                ))
            }
        };
        Ok(match self {
            Selector::Any => (0, 0),
            Selector::Type(n) => (check(n)?, 0),
            Selector::UpTo(n) => (-check(n)?, 0),
            Selector::Except(n) => (check(n)?, sys::msg::MSG_EXCEPT),
        })
    }
}

/// How to receive; see [`MessageQueue::recv_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecvOptions {
    no_wait: bool,
    truncate: bool,
}

impl RecvOptions {
    /// Block until a message is there; fail on a message longer than the buffer.
    pub const fn new() -> Self {
        RecvOptions {
            no_wait: false,
            truncate: false,
        }
    }

    /// `RecvOptions::new().no_wait()`, usable in constants.
    pub const fn new_no_wait() -> Self {
        RecvOptions {
            no_wait: true,
            truncate: false,
        }
    }

    /// Fail with [`ErrorKind::NoMessage`] instead of waiting (`IPC_NOWAIT`).
    pub const fn no_wait(mut self) -> Self {
        self.no_wait = true;
        self
    }

    /// Take a message longer than the buffer, cutting it (`MSG_NOERROR`); otherwise such a
    /// message stays queued and the call fails with [`ErrorKind::TooBig`].
    pub const fn truncate(mut self) -> Self {
        self.truncate = true;
        self
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its type (> 0).
    pub mtype: i64,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Everything the kernel knows about a queue (`struct msqid_ds`, or a row of
/// `/proc/sysvipc/msg`). Times are seconds since the epoch, 0 for never.
///
/// # References
/// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html), `IPC_STAT`
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MsgStat {
    /// The key.
    pub key: Key,
    /// The id.
    pub id: MsgId,
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
    /// Bytes of text queued now (`__msg_cbytes`).
    pub cbytes: u64,
    /// Messages queued now (`msg_qnum`).
    pub qnum: u64,
    /// The most bytes of text the queue holds (`msg_qbytes`). `/proc/sysvipc/msg` does not
    /// show it: a listing row has it only where this process may read the queue, else 0.
    pub qbytes: u64,
    /// The pid of the last `msgsnd` (`msg_lspid`).
    pub lspid: i32,
    /// The pid of the last `msgrcv` (`msg_lrpid`). When a message goes straight to a
    /// receiver that was already waiting, Linux records that receiver's thread id here.
    pub lrpid: i32,
    /// The last `msgsnd` (`msg_stime`).
    pub stime: i64,
    /// The last `msgrcv` (`msg_rtime`).
    pub rtime: i64,
    /// The creation or last change (`msg_ctime`).
    pub ctime: i64,
}

impl MsgStat {
    // The field types are aliases that differ across targets (u32 on 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn from_ds(id: MsgId, ds: &msqid_ds) -> MsgStat {
        MsgStat {
            key: Key::from_raw(ds.msg_perm.__key),
            id,
            uid: ds.msg_perm.uid,
            gid: ds.msg_perm.gid,
            cuid: ds.msg_perm.cuid,
            cgid: ds.msg_perm.cgid,
            mode: u32::from(ds.msg_perm.mode) & 0o777,
            cbytes: ds.__msg_cbytes as u64,
            qnum: ds.msg_qnum as u64,
            qbytes: ds.msg_qbytes as u64,
            lspid: ds.msg_lspid,
            lrpid: ds.msg_lrpid,
            stime: ds.msg_stime as i64,
            rtime: ds.msg_rtime as i64,
            ctime: ds.msg_ctime as i64,
        }
    }
}

/// A handle to a System V message queue. Dropping it removes nothing; see
/// [`MessageQueue::remove`] and [`MessageQueue::remove_on_drop`].
///
/// # References
/// - [`msgget(2)`](https://man7.org/linux/man-pages/man2/msgget.2.html)
/// - [`msgop(2)`](https://man7.org/linux/man-pages/man2/msgop.2.html)
/// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageQueue {
    id: MsgId,
    key: Key,
    created: bool,
}

/// How to create or open a queue; made by [`MessageQueue::builder`].
///
/// # References
/// - [`msgget(2)`](https://man7.org/linux/man-pages/man2/msgget.2.html)
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until create(), open() or open_or_create() is called"]
pub struct MessageQueueBuilder {
    key: Key,
    mode: Option<u32>,
    trust: Trust,
}

impl MessageQueueBuilder {
    /// The permission bits (default `0o600`). When opening, a mode set here is passed to
    /// the kernel, which checks that the caller has it.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Let open-or-create accept a queue owned or created by another user.
    pub fn trust_other_owner(mut self) -> Self {
        self.trust.owner = true;
        self
    }

    /// Let open-or-create accept a queue whose mode grants more than asked for.
    pub fn trust_wider_mode(mut self) -> Self {
        self.trust.mode = true;
        self
    }

    /// Both `trust_*` opt-ins.
    pub fn trust_existing(self) -> Self {
        self.trust_other_owner().trust_wider_mode()
    }

    fn checked_mode(&self) -> Result<u32> {
        trust::checked_mode("msgget", self.key, self.mode.unwrap_or(DEFAULT_MODE))
    }

    /// Creates a new queue exclusively (`IPC_CREAT | IPC_EXCL`).
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::LimitExceeded`] at `MSGMNI`.
    #[doc(alias = "msgget")]
    pub fn create(self) -> Result<MessageQueue> {
        let flags = self.checked_mode()? as i32 | sys::shm::IPC_CREAT | sys::shm::IPC_EXCL;
        Ok(MessageQueue {
            id: msgget(self.key, flags)?,
            key: self.key,
            created: true,
        })
    }

    /// Opens the existing queue with this key.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::PermissionDenied`] if an explicit mode is not
    /// granted.
    #[doc(alias = "msgget")]
    pub fn open(self) -> Result<MessageQueue> {
        let request = match self.mode {
            Some(_) => self.checked_mode()? as i32,
            None => 0,
        };
        Ok(MessageQueue {
            id: msgget(self.key, request)?,
            key: self.key,
            created: false,
        })
    }

    /// Creates the queue, or opens it if it exists and passes the squatting checks (owner
    /// and mode), as [`SegmentBuilder::open_or_create`] describes.
    ///
    /// [`SegmentBuilder::open_or_create`]: crate::SegmentBuilder::open_or_create
    ///
    /// # Errors
    /// As `create` and `open`, plus [`ErrorKind::Squatting`].
    #[doc(alias = "msgget")]
    pub fn open_or_create(self) -> Result<MessageQueue> {
        let mode = self.checked_mode()?;
        let flags = mode as i32 | sys::shm::IPC_CREAT | sys::shm::IPC_EXCL;
        let request = if self.mode.is_some() { mode as i32 } else { 0 };
        let key = self.key;
        let handle = |id, created| MessageQueue { id, key, created };
        trust::open_or_create(OpenOrCreate {
            key,
            call: "msgget",
            context: format!("key={key}"),
            trust: self.trust,
            mode,
            size: 0,
            create: &|| msgget(key, flags).map(|id| handle(id, true)),
            open: &|| msgget(key, request).map(|id| handle(id, false)),
            existing: &|queue| {
                queue.stat().map(|s| Existing {
                    uid: s.uid,
                    cuid: s.cuid,
                    mode: s.mode,
                    size: None,
                })
            },
            owner_of: &|key| {
                let row = crate::info::message_queues()
                    .ok()?
                    .into_iter()
                    .find(|r| r.key == key)?;
                Some((row.uid, row.cuid))
            },
        })
    }
}

fn msgget(key: Key, flags: i32) -> Result<MsgId> {
    sys::msg::msgget(key.raw(), flags)
        .map(MsgId)
        .map_err(|e| Error::sys("msgget", format!("key={key}"), e))
}

impl MessageQueue {
    /// A builder for creating or opening the queue named `key`.
    pub fn builder(key: Key) -> MessageQueueBuilder {
        MessageQueueBuilder {
            key,
            mode: None,
            trust: Trust::default(),
        }
    }

    /// Creates a new queue with mode `0o600`; fails if `key` exists.
    ///
    /// # Errors
    /// See [`MessageQueueBuilder::create`].
    #[doc(alias = "msgget")]
    pub fn create(key: Key) -> Result<MessageQueue> {
        MessageQueue::builder(key).create()
    }

    /// Opens the existing queue named `key` (`msgget(key, 0)`).
    ///
    /// # Errors
    /// See [`MessageQueueBuilder::open`].
    #[doc(alias = "msgget")]
    pub fn open(key: Key) -> Result<MessageQueue> {
        MessageQueue::builder(key).open()
    }

    /// Creates a queue, or opens the existing one if it passes the squatting checks.
    ///
    /// # Errors
    /// See [`MessageQueueBuilder::open_or_create`].
    #[doc(alias = "msgget")]
    pub fn open_or_create(key: Key) -> Result<MessageQueue> {
        MessageQueue::builder(key).open_or_create()
    }

    /// The queue with this id, checked to exist with `IPC_STAT`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an id that names no queue;
    /// [`ErrorKind::PermissionDenied`].
    pub fn from_id(id: MsgId) -> Result<MessageQueue> {
        let ds = stat_id(id)?;
        Ok(MessageQueue {
            id,
            key: Key::from_raw(ds.msg_perm.__key),
            created: false,
        })
    }

    /// A handle to the object with this id, without asking the kernel anything: for
    /// callers that act on an id they were given (remove, set) where `IPC_STAT` may be
    /// refused (the owner of a mode-0 object may still remove it). The key is unknown and
    /// reported as [`Key::PRIVATE`]; every operation fails cleanly if the id names nothing.
    ///
    /// # References
    /// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html)
    pub fn from_id_unchecked(id: MsgId) -> MessageQueue {
        MessageQueue {
            id,
            key: Key::PRIVATE,
            created: false,
        }
    }

    /// The id.
    pub fn id(&self) -> MsgId {
        self.id
    }

    /// The key this handle was created or opened with.
    pub fn key(&self) -> Key {
        self.key
    }

    /// Whether this handle created the queue.
    pub fn created(&self) -> bool {
        self.created
    }

    fn ctx(&self, what: &str) -> String {
        format!("msqid={}, {what}", self.id)
    }

    fn send_flags(&self, mtype: i64, data: &[u8], flags: i32) -> Result<()> {
        loop {
            match sys::msg::msgsnd(self.id.0, mtype, data, flags) {
                Err(e) if e.raw() == sys::EINTR => continue,
                other => {
                    return other.map_err(|e| {
                        let what = format!("mtype={mtype}, len={}", data.len());
                        Error::sys("msgsnd", self.ctx(&what), e)
                    })
                }
            }
        }
    }

    /// Sends a message of type `mtype` (> 0), waiting while the queue is full.
    ///
    /// EINTR policy: a signal restarts the wait (nothing was sent).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for `mtype` ≤ 0, a message longer than `MSGMAX`, or
    /// no such queue; [`ErrorKind::Removed`] if the queue is removed while waiting;
    /// [`ErrorKind::PermissionDenied`]; [`ErrorKind::OutOfMemory`].
    ///
    /// # References
    /// - [`msgop(2)`](https://man7.org/linux/man-pages/man2/msgop.2.html)
    #[doc(alias = "msgsnd")]
    pub fn send(&self, mtype: i64, data: &[u8]) -> Result<()> {
        self.send_flags(mtype, data, 0)
    }

    /// Sends without waiting (`IPC_NOWAIT`).
    ///
    /// # Errors
    /// [`ErrorKind::WouldBlock`] when the queue is full, or as [`MessageQueue::send`].
    #[doc(alias = "msgsnd")]
    pub fn try_send(&self, mtype: i64, data: &[u8]) -> Result<()> {
        self.send_flags(mtype, data, sys::msg::IPC_NOWAIT)
    }

    /// Receives the first message `selector` picks into `buf`, waiting until there is one;
    /// returns its type and length.
    ///
    /// # Errors
    /// [`ErrorKind::TooBig`] (`E2BIG`) if the message is longer than `buf` (it stays
    /// queued); [`ErrorKind::Removed`] if the queue is removed while waiting;
    /// [`ErrorKind::InvalidArgument`] for a non-positive type in the selector or no such
    /// queue; [`ErrorKind::PermissionDenied`].
    #[doc(alias = "msgrcv")]
    pub fn recv(&self, selector: Selector, buf: &mut [u8]) -> Result<(i64, usize)> {
        self.recv_with(selector, buf, RecvOptions::new())
    }

    /// Receives with options: no-wait ([`ErrorKind::NoMessage`] when nothing matches) and
    /// truncation.
    ///
    /// EINTR policy: a signal restarts the wait (nothing was received).
    ///
    /// # Errors
    /// As [`MessageQueue::recv`], plus [`ErrorKind::NoMessage`] (`ENOMSG`) with no-wait.
    ///
    /// # References
    /// - [`msgop(2)`](https://man7.org/linux/man-pages/man2/msgop.2.html)
    #[doc(alias = "msgrcv")]
    pub fn recv_with(
        &self,
        selector: Selector,
        buf: &mut [u8],
        options: RecvOptions,
    ) -> Result<(i64, usize)> {
        let (msgtyp, mut flags) = selector.msgtyp_and_flags()?;
        if options.no_wait {
            flags |= sys::msg::IPC_NOWAIT;
        }
        if options.truncate {
            flags |= sys::msg::MSG_NOERROR;
        }
        self.recv_raw(msgtyp, flags, buf, || format!("{selector:?}"))
    }

    /// `what` describes the request for the error message; it is only called on failure.
    fn recv_raw(
        &self,
        msgtyp: i64,
        flags: i32,
        buf: &mut [u8],
        what: impl Fn() -> String,
    ) -> Result<(i64, usize)> {
        loop {
            match sys::msg::msgrcv(self.id.0, buf, msgtyp, flags) {
                Err(e) if e.raw() == sys::EINTR => continue,
                other => {
                    return other.map_err(|e| {
                        Error::sys(
                            "msgrcv",
                            self.ctx(&format!("{}, len={}", what(), buf.len())),
                            e,
                        )
                    })
                }
            }
        }
    }

    /// Receives into a new vector of at most `max_len` bytes.
    ///
    /// # Errors
    /// As [`MessageQueue::recv_with`].
    #[doc(alias = "msgrcv")]
    pub fn recv_vec(
        &self,
        selector: Selector,
        max_len: usize,
        options: RecvOptions,
    ) -> Result<Message> {
        let mut data = vec![0u8; max_len];
        let (mtype, len) = self.recv_with(selector, &mut data, options)?;
        data.truncate(len);
        Ok(Message { mtype, data })
    }

    /// Copies the message at `index` (0 is the oldest) into `buf` without removing it
    /// (`MSG_COPY | IPC_NOWAIT`, Linux 3.8 with `CONFIG_CHECKPOINT_RESTORE`).
    ///
    /// # Errors
    /// [`ErrorKind::NoMessage`] when the queue has no message at `index`;
    /// [`ErrorKind::TooBig`] if it is longer than `buf`; [`ErrorKind::Unsupported`] when
    /// the kernel lacks `MSG_COPY`.
    #[doc(alias = "MSG_COPY")]
    pub fn peek(&self, index: usize, buf: &mut [u8]) -> Result<(i64, usize)> {
        let idx = i64::try_from(index).unwrap_or(i64::MAX);
        let flags = sys::msg::MSG_COPY | sys::msg::IPC_NOWAIT;
        self.recv_raw(idx, flags, buf, || format!("MSG_COPY index={index}"))
            .map_err(|e| {
                // Without CONFIG_CHECKPOINT_RESTORE the kernel rejects MSG_COPY with ENOSYS.
                if e.raw_os_error() == Some(sys::ENOSYS) {
                    e.with_kind(ErrorKind::Unsupported)
                } else {
                    e
                }
            })
    }

    /// Everything the kernel knows about the queue (`IPC_STAT`).
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`]; [`ErrorKind::InvalidArgument`] once it is gone.
    #[doc(alias = "IPC_STAT")]
    pub fn stat(&self) -> Result<MsgStat> {
        stat_id(self.id).map(|ds| MsgStat::from_ds(self.id, &ds))
    }

    /// Sets the permission bits (`IPC_SET`).
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`].
    #[doc(alias = "IPC_SET")]
    pub fn set_mode(&self, mode: u32) -> Result<()> {
        let mode = trust::checked_mode("msgctl", self.key, mode)?;
        self.set(|ds| ds.msg_perm.mode = mode as _)
    }

    /// Sets the owner (`IPC_SET`).
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator.
    #[doc(alias = "IPC_SET")]
    pub fn set_owner(&self, uid: u32, gid: u32) -> Result<()> {
        self.set(|ds| {
            ds.msg_perm.uid = uid;
            ds.msg_perm.gid = gid;
        })
    }

    /// Sets the most bytes of text the queue holds (`IPC_SET` of `msg_qbytes`). Lowering
    /// is always allowed to the owner; raising above `MSGMNB` needs `CAP_SYS_RESOURCE`.
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`]; [`ErrorKind::InvalidArgument`].
    #[doc(alias = "IPC_SET")]
    pub fn set_max_bytes(&self, qbytes: u64) -> Result<()> {
        self.set(|ds| ds.msg_qbytes = qbytes as _)
    }

    fn set(&self, change: impl FnOnce(&mut msqid_ds)) -> Result<()> {
        // As for segments: IPC_SET needs ownership, not read permission.
        let mut ds = match stat_id(self.id) {
            Ok(ds) => ds,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                let row = crate::info::message_queues()?
                    .into_iter()
                    .find(|r| r.id == self.id)
                    .ok_or(e)?;
                let mut ds = sys::msg::zeroed_ds();
                ds.msg_perm.uid = row.uid;
                ds.msg_perm.gid = row.gid;
                ds.msg_perm.mode = row.mode as _;
                ds.msg_qbytes = row.qbytes as _;
                ds
            }
            Err(e) => return Err(e),
        };
        change(&mut ds);
        sys::msg::set(self.id.0, &ds).map_err(|e| Error::sys("msgctl", self.ctx("IPC_SET"), e))
    }

    /// Removes the queue now (`IPC_RMID`): queued messages are lost and every process
    /// waiting on it wakes with [`ErrorKind::Removed`].
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`]
    /// if already gone.
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        sys::msg::remove(self.id.0).map_err(|e| Error::sys("msgctl", self.ctx("IPC_RMID"), e))
    }

    /// Wraps the handle in a guard that removes the queue when dropped.
    pub fn remove_on_drop(self) -> RemoveOnDrop<MessageQueue> {
        RemoveOnDrop::new(self)
    }
}

fn stat_id(id: MsgId) -> Result<msqid_ds> {
    sys::msg::stat(id.0, sys::IPC_STAT)
        .map(|(_, ds)| ds)
        .map_err(|e| Error::sys("msgctl", format!("msqid={id}, IPC_STAT"), e))
}

impl Removable for MessageQueue {
    fn identity(&self) -> Identity {
        match self.stat() {
            Ok(s) => Identity::Known(s.key.raw(), s.cuid, u64::from(s.cgid)),
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
