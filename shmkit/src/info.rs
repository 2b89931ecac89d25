//! The system view: every segment, semaphore set and message queue on the system, the
//! kernel's limits and its usage, and the names listings show.
//!
//! A façade: each facility owns its listing (`/proc/sysvipc/{shm,sem,msg}`, or the
//! `*_STAT_ANY` commands index by index) and its limits; they are gathered here.
//!
//! # References
//! - [`proc_sysvipc(5)`](https://man7.org/linux/man-pages/man5/proc_sysvipc.5.html)
//! - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html), `IPC_INFO`,
//!   `SHM_INFO`, `SHM_STAT_ANY`

pub use crate::ipc::{effective_uid, group_name, user_name};
pub use crate::msg::limits::{msg_limits, msg_usage, MsgLimits, MsgUsage};
pub use crate::msg::list::{
    message_queues, message_queues_from_proc, message_queues_from_syscalls,
    readable_message_queues_from_syscalls,
};
pub use crate::sem::limits::{sem_limits, sem_usage, SemLimits, SemUsage};
pub use crate::sem::list::{
    readable_semaphore_sets_from_syscalls, semaphore_sets, semaphore_sets_from_proc,
    semaphore_sets_from_syscalls,
};
pub use crate::shm::limits::{page_size, shm_limits, shm_usage, ShmLimits, ShmUsage};
pub use crate::shm::list::{
    readable_segments_from_syscalls, segments, segments_from_proc, segments_from_syscalls,
};
