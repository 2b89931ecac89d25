//! [`ShmSafe`]: types that may live in shared memory, and [`bytes_of`], their bytes.
#![allow(unsafe_code)]

/// Types that may live in shared memory and be read and written by other processes.
///
/// # Safety
/// Implement it only for types that are
/// - `#[repr(C)]` (or `#[repr(transparent)]`, or primitives), so every process agrees on the
///   layout;
/// - free of pointers and references (each process maps the segment at its own address:
///   store offsets instead);
/// - valid for every bit pattern (no `bool`, `char`, enums, `NonZero*`), because another
///   process can write any byte at any time;
/// - free of padding bytes, because values are copied in and out as bytes;
/// - `Copy`, without `Drop` or interior mutability.
///
/// It is implemented for the integer primitives, `f32`, `f64`, and arrays of `ShmSafe`
/// types. `usize` and `isize` are included for convenience; their size differs between 32-
/// and 64-bit peers.
pub unsafe trait ShmSafe: Copy + Send + Sync + 'static {}

macro_rules! shm_safe {
    ($($t:ty),*) => {
        $(
            // SAFETY: a primitive number: no pointers, no padding, every bit pattern valid.
            unsafe impl ShmSafe for $t {}
        )*
    };
}

shm_safe!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);

// SAFETY: an array of ShmSafe elements has no padding between elements (size is a multiple
// of alignment), no pointers, and every bit pattern of each element is valid.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}

/// The bytes of a `ShmSafe` value.
pub(crate) fn bytes_of<T: ShmSafe>(value: &T) -> &[u8] {
    // SAFETY: T: ShmSafe has no padding, so all size_of::<T>() bytes are initialised, and
    // the slice borrows `value`.
    unsafe {
        std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
    }
}
