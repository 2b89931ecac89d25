//! [`MessageQueue`]: a handle to a message queue (create, open, send, receive, peek, stat,
//! set, remove), and [`MessageQueueBuilder`].

use super::list::message_queues;
use super::message::{Message, RecvOptions, Selector};
use super::stat::{MsgId, MsgStat};
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::guard::{Identity, Removable, RemoveOnDrop};
use crate::ipc::object::{self, IpcObject, Perm, Request, SysResult};
use crate::ipc::trust::Trust;
use crate::key::Key;
use crate::sys;
use crate::sys::ipc::{ipc_perm, IPC_NOWAIT};
use crate::sys::msg::msqid_ds;

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

    fn request(&self) -> Request {
        Request {
            key: self.key,
            mode: self.mode,
            trust: self.trust,
            size: 0,
            create_flags: 0,
        }
    }

    /// Creates a new queue exclusively (`IPC_CREAT | IPC_EXCL`).
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::LimitExceeded`] at `MSGMNI`.
    #[doc(alias = "msgget")]
    pub fn create(self) -> Result<MessageQueue> {
        self.request().create()
    }

    /// Opens the existing queue with this key.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::PermissionDenied`] if an explicit mode is not
    /// granted.
    #[doc(alias = "msgget")]
    pub fn open(self) -> Result<MessageQueue> {
        self.request().open()
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
        self.request().open_or_create()
    }
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
        object::from_id(id)
    }

    /// A handle to the object with this id, without asking the kernel anything: for
    /// callers that act on an id they were given (remove, set) where `IPC_STAT` may be
    /// refused (the owner of a mode-0 object may still remove it). The key is unknown and
    /// reported as [`Key::PRIVATE`]; every operation fails cleanly if the id names nothing.
    ///
    /// # References
    /// - [`msgctl(2)`](https://man7.org/linux/man-pages/man2/msgctl.2.html)
    pub fn from_id_unchecked(id: MsgId) -> MessageQueue {
        object::from_id_unchecked(id)
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
            match sys::msg::msgsnd(self.id.raw(), mtype, data, flags) {
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
        self.send_flags(mtype, data, IPC_NOWAIT)
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
        let (msgtyp, flags) = selector.msgtyp_and_flags()?;
        let flags = flags | options.flags();
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
            match sys::msg::msgrcv(self.id.raw(), buf, msgtyp, flags) {
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
        let flags = sys::msg::MSG_COPY | IPC_NOWAIT;
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
    /// [`ErrorKind::NotPermitted`] unless owner or creator.
    #[doc(alias = "IPC_SET")]
    pub fn set_owner(&self, uid: u32, gid: u32) -> Result<()> {
        object::set_owner(self, uid, gid)
    }

    /// Sets the most bytes of text the queue holds (`IPC_SET` of `msg_qbytes`). Lowering
    /// is always allowed to the owner; raising above `MSGMNB` needs `CAP_SYS_RESOURCE`.
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`]; [`ErrorKind::InvalidArgument`].
    #[doc(alias = "IPC_SET")]
    pub fn set_max_bytes(&self, qbytes: u64) -> Result<()> {
        object::set(self, |ds: &mut msqid_ds| ds.msg_qbytes = qbytes as _)
    }

    /// Removes the queue now (`IPC_RMID`): queued messages are lost and every process
    /// waiting on it wakes with [`ErrorKind::Removed`].
    ///
    /// # Errors
    /// [`ErrorKind::NotPermitted`] unless owner or creator; [`ErrorKind::InvalidArgument`]
    /// if already gone.
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        object::remove(self)
    }

    /// Wraps the handle in a guard that removes the queue when dropped.
    pub fn remove_on_drop(self) -> RemoveOnDrop<MessageQueue> {
        RemoveOnDrop::new(self)
    }
}

impl Removable for MessageQueue {
    fn identity(&self) -> Identity {
        object::identity(self)
    }

    fn remove_object(&self) -> Result<()> {
        self.remove()
    }
}

impl IpcObject for MessageQueue {
    type Id = MsgId;
    type Ds = msqid_ds;
    type Stat = MsgStat;
    const GET: &'static str = "msgget";
    const CTL: &'static str = "msgctl";
    const ID_NAME: &'static str = "msqid";
    const SYS_STAT: fn(i32) -> SysResult<msqid_ds> = sys::msg::stat;
    const SYS_SET: fn(i32, &msqid_ds) -> SysResult<()> = sys::msg::set;
    const SYS_REMOVE: fn(i32) -> SysResult<()> = sys::msg::remove;
    const FROM_DS: fn(MsgId, &msqid_ds) -> MsgStat = MsgStat::from_ds;
    const LIST: fn() -> Result<Vec<MsgStat>> = message_queues;

    fn from_parts(id: MsgId, key: Key, created: bool) -> MessageQueue {
        MessageQueue { id, key, created }
    }

    fn object_id(&self) -> MsgId {
        self.id
    }

    fn get(key: Key, _size: usize, flags: i32) -> Result<MsgId> {
        sys::msg::msgget(key.raw(), flags)
            .map(MsgId::from_raw)
            .map_err(|e| Error::sys(Self::GET, MessageQueue::get_context(key, 0), e))
    }

    fn get_context(key: Key, _size: usize) -> String {
        format!("key={key}")
    }

    fn perm_mut(ds: &mut msqid_ds) -> &mut ipc_perm {
        &mut ds.msg_perm
    }

    fn perm(stat: &MsgStat) -> Perm<MsgId> {
        Perm {
            id: stat.id,
            key: stat.key,
            uid: stat.uid,
            gid: stat.gid,
            cuid: stat.cuid,
            mode: stat.mode,
            size: None,
        }
    }

    fn set_from_row(ds: &mut msqid_ds, row: &MsgStat) {
        ds.msg_qbytes = row.qbytes as _;
    }

    fn identity_of(stat: &MsgStat) -> Identity {
        Identity::Known(stat.key.raw(), stat.cuid, u64::from(stat.cgid))
    }
}
