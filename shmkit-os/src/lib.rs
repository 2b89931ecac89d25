//! # shmkit-os: what shmkit's tools need from the operating system besides IPC
//!
//! An internal crate of the shmkit workspace (not published): the command-line tools and
//! the benchmarks use it; the library `shmkit` does not, and this crate does not depend on
//! `shmkit`, so that `shmkit`'s own tests and benchmarks can use it too.
//!
//! - Local time as libc computes it, so that `TZ` and `/etc/localtime` apply exactly as in
//!   C tools: [`local_time`], [`LocalTime`].
//! - Terminals: [`is_terminal`], [`terminal_width`], key-by-key input ([`stdin_keys`],
//!   [`KeyMode`]).
//! - Processes: C's behaviour on a closed pipe ([`default_sigpipe`]), [`process_exists`],
//!   [`process_command_line`], [`kill_on_parent_death`].
//! - What a benchmark needs to compare shared memory with the kernel's other means of
//!   talking between processes: CPU pinning and CPU time ([`pin_to_cpu`], [`allowed_cpus`],
//!   [`cpu_time`]), raw shared futexes ([`futex_wait`], [`futex_wake`]), pipes ([`pipe`])
//!   and eventfds ([`EventFd`]).
//!
//! User and group names, the effective uid and the page size are `shmkit::info`'s
//! (`user_name`, `group_name`, `effective_uid`, `page_size`).
//!
//! Every fallible call returns this crate's [`Error`]: the call, its arguments and the
//! `errno`. Only the private `sys` module calls libc; the rest is `#![deny(unsafe_code)]`.
#![deny(unsafe_code)]

mod cpu;
mod error;
mod fd;
mod futex;
mod process;
mod sys;
mod term;
mod time;

pub use cpu::{allowed_cpus, cpu_time, pin_to_cpu};
pub use error::{Error, Result};
pub use fd::{pipe, EventFd};
pub use futex::{futex_wait, futex_wake};
pub use process::{default_sigpipe, kill_on_parent_death, process_command_line, process_exists};
pub use term::{is_terminal, stdin_keys, terminal_width, KeyMode};
pub use time::{local_time, LocalTime};
