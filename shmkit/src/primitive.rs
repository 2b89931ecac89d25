//! The atomics, fences and hints that the in-segment protocols are written with, in one
//! place (the pattern of crossbeam's `primitive` module): std's normally, loom's under
//! `cfg(loom)`, so that the loom models in `tests/loom_*.rs` run the shipped protocol steps.
//!
//! The difficulty is that shipped code does not own its atomics: it views words of a
//! segment (`&AtomicU32` over a [`Region`](crate::Region)), and a loom atomic cannot live
//! there. So the pure protocol steps (`channel::wait`'s announce and notify, `endpoint`'s
//! claim and release, the ring index steps of each channel kind) are generic over [`Word`],
//! a small trait implemented for std's atomics (the segment views) and, under `cfg(loom)`,
//! for loom's. Each use is monomorphised: the shipped code calls the very same inlined
//! atomic operations as before, with no dynamic dispatch; a fence goes through
//! [`Word::fence`] so that it is loom's fence exactly when the words are loom's.
#![cfg_attr(not(loom), allow(unreachable_pub))]

/// `std::sync::atomic`, or loom's under `cfg(loom)`.
pub(crate) mod sync {
    /// Atomic integers, fences and orderings.
    pub(crate) mod atomic {
        #[cfg(loom)]
        #[allow(unused_imports)]
        pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};
        #[cfg(not(loom))]
        #[allow(unused_imports)]
        pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    }
}

/// `std::hint`, or loom's under `cfg(loom)` (where a spin yields to loom's scheduler).
pub(crate) mod hint {
    #[cfg(loom)]
    pub(crate) use loom::hint::spin_loop;
    #[cfg(not(loom))]
    pub(crate) use std::hint::spin_loop;
}

/// `std::thread`'s scheduling hint, or loom's under `cfg(loom)`.
pub(crate) mod thread {
    #[cfg(loom)]
    pub(crate) use loom::thread::yield_now;
    #[cfg(not(loom))]
    pub(crate) use std::thread::yield_now;
}

use std::sync::atomic::Ordering;

/// An atomic word that a protocol step works on: a view of a segment's word (std's
/// atomics) or, under `cfg(loom)`, a loom atomic. The methods are those of std's atomics;
/// [`fence`](Word::fence) is the fence of the memory model the word lives in.
pub trait Word: Sync {
    /// The integer the word holds.
    type Int: Copy + Eq;
    /// As `AtomicU*::load`.
    fn load(&self, order: Ordering) -> Self::Int;
    /// As `AtomicU*::store`.
    fn store(&self, value: Self::Int, order: Ordering);
    /// As `AtomicU*::compare_exchange`.
    fn compare_exchange(
        &self,
        current: Self::Int,
        new: Self::Int,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Self::Int, Self::Int>;
    /// As `AtomicU*::compare_exchange_weak`.
    fn compare_exchange_weak(
        &self,
        current: Self::Int,
        new: Self::Int,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Self::Int, Self::Int>;
    /// As `AtomicU*::fetch_add`.
    fn fetch_add(&self, value: Self::Int, order: Ordering) -> Self::Int;
    /// As `AtomicU*::fetch_sub`.
    fn fetch_sub(&self, value: Self::Int, order: Ordering) -> Self::Int;
    /// As `AtomicU*::fetch_or`.
    fn fetch_or(&self, value: Self::Int, order: Ordering) -> Self::Int;
    /// As `AtomicU*::fetch_and`.
    fn fetch_and(&self, value: Self::Int, order: Ordering) -> Self::Int;
    /// A fence of the memory model this kind of word lives in (`std::sync::atomic::fence`
    /// for segment words, loom's for loom's).
    fn fence(order: Ordering);
}

macro_rules! word {
    ($atomic:ty, $int:ty, $fence:path) => {
        impl Word for $atomic {
            type Int = $int;
            #[inline(always)]
            fn load(&self, order: Ordering) -> $int {
                <$atomic>::load(self, order)
            }
            #[inline(always)]
            fn store(&self, value: $int, order: Ordering) {
                <$atomic>::store(self, value, order)
            }
            #[inline(always)]
            fn compare_exchange(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                <$atomic>::compare_exchange(self, current, new, success, failure)
            }
            #[inline(always)]
            fn compare_exchange_weak(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                <$atomic>::compare_exchange_weak(self, current, new, success, failure)
            }
            #[inline(always)]
            fn fetch_add(&self, value: $int, order: Ordering) -> $int {
                <$atomic>::fetch_add(self, value, order)
            }
            #[inline(always)]
            fn fetch_sub(&self, value: $int, order: Ordering) -> $int {
                <$atomic>::fetch_sub(self, value, order)
            }
            #[inline(always)]
            fn fetch_or(&self, value: $int, order: Ordering) -> $int {
                <$atomic>::fetch_or(self, value, order)
            }
            #[inline(always)]
            fn fetch_and(&self, value: $int, order: Ordering) -> $int {
                <$atomic>::fetch_and(self, value, order)
            }
            #[inline(always)]
            fn fence(order: Ordering) {
                $fence(order)
            }
        }
    };
}

word!(std::sync::atomic::AtomicU32, u32, std::sync::atomic::fence);
word!(std::sync::atomic::AtomicU64, u64, std::sync::atomic::fence);
#[cfg(loom)]
word!(
    loom::sync::atomic::AtomicU32,
    u32,
    loom::sync::atomic::fence
);
#[cfg(loom)]
word!(
    loom::sync::atomic::AtomicU64,
    u64,
    loom::sync::atomic::fence
);
