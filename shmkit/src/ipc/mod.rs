//! What the three System V IPC facilities (`shm`, `sem`, `msg`) share, below them: the
//! [`IpcObject`](object::IpcObject) trait with the code written once on top of it, the
//! id newtypes, the squatting defence, the remove-on-drop guard, and the parsing of
//! `/proc/sysvipc` tables shared by their listings.

pub(crate) mod guard;
pub(crate) mod id;
pub(crate) mod listing;
pub(crate) mod object;
pub(crate) mod proc;
pub(crate) mod trust;
pub(crate) mod users;

pub use guard::{Identity, Removable, RemoveOnDrop};
pub use object::DEFAULT_MODE;
pub use users::{effective_uid, group_name, user_name};
