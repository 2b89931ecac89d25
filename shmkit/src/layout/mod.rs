//! The in-segment layer: what every structure shmkit lays out inside a [`Region`] shares,
//! used by both [`sync`](crate::sync) and [`channel`](crate::channel).
//!
//! - [`header`]: the 64-byte header each structure starts with (magic, layout version,
//!   sizes, an init state word going uninit → initialising → ready by compare-and-swap, the
//!   creator's pid namespace), and the checks made when one is created or opened.
//! - [`shm_safe`]: [`ShmSafe`], the marker for types that may be copied in and out of
//!   shared memory, and [`bytes_of`].
//!
//! The memory-model primitives these structures stand on are methods of [`Region`], each
//! written once in `region.rs`: the bounds-checked copies and atomic views, and the
//! unchecked ones for words and values whose place a structure's header check already
//! proved (`Region::atomic_u32_unchecked`, `atomic_u64_unchecked`, `read_unchecked`,
//! `write_unchecked`: the checked methods are these after the check). They live with
//! `Region` rather than in a file here because `Region::read_at` and `Region::write_at` are
//! made of the same copy, and `Region` sits below the facilities (an
//! [`Attachment`](crate::Attachment) derefs to one) while this layer sits above them: a
//! copy here would make `region` and `layout` import each other.
//!
//! Nothing here knows about segments: a structure works in any region.
//!
//! [`Region`]: crate::Region

pub(crate) mod header;
pub(crate) mod shm_safe;

pub(crate) use shm_safe::bytes_of;
pub use shm_safe::ShmSafe;
