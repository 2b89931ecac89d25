//! Keys: the system-wide names of System V IPC objects.

use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use crate::sys::Errno;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::str::FromStr;

/// A System V IPC key (`key_t`): the name that cooperating processes agree on, so that the
/// same key always resolves to the same object.
///
/// Shown as `0x%08x`, like `ipcs` does. Parsed from hex (`0x6e77bcfb`) or decimal, negative
/// too (`-1` is `0xffffffff`).
///
/// # References
/// - [`ftok(3)`](https://man7.org/linux/man-pages/man3/ftok.3.html)
/// - [`sysvipc(7)`](https://man7.org/linux/man-pages/man7/sysvipc.7.html)
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[doc(alias = "key_t")]
pub struct Key(i32);

impl Key {
    /// `IPC_PRIVATE`: every `create` with it makes a new object that no other key names.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "IPC_PRIVATE")]
    pub const PRIVATE: Key = Key(sys::ipc::IPC_PRIVATE);

    /// A key from its raw `key_t` value.
    pub const fn from_raw(raw: i32) -> Key {
        Key(raw)
    }

    /// The raw `key_t` value, as passed to `shmget`.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// Whether this is [`Key::PRIVATE`].
    pub const fn is_private(self) -> bool {
        self.0 == sys::ipc::IPC_PRIVATE
    }

    /// `ftok(path, proj_id)`, bit-identical to glibc's: the low 16 bits of the inode, the low
    /// 8 bits of the device and the low 8 bits of `proj_id`:
    /// `(proj_id & 0xff) << 24 | (st_dev & 0xff) << 16 | (st_ino & 0xffff)`.
    ///
    /// `path` is followed if it is a symbolic link, as `stat(2)` does. Like glibc, every
    /// `proj_id` is accepted and only its low 8 bits count (so 256 gives the key of 0).
    ///
    /// Two paths can give the same key: the inode is truncated to 16 bits.
    ///
    /// # Errors
    /// The `stat(2)` failure, e.g. [`ErrorKind::NotFound`] when `path` does not exist.
    ///
    /// # References
    /// - [`ftok(3)`](https://man7.org/linux/man-pages/man3/ftok.3.html)
    pub fn ftok(path: impl AsRef<Path>, proj_id: i32) -> Result<Key> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| {
            let context = format!("path={}, proj_id={proj_id}", path.display());
            match e.raw_os_error() {
                Some(raw) => {
                    // The file-system wording ("no such file or directory"), not the IPC one.
                    let errno = Errno::from_raw(raw);
                    let text = e.to_string();
                    let text = text
                        .split(" (os error")
                        .next()
                        .unwrap_or(&text)
                        .to_lowercase();
                    let name = errno.name().unwrap_or("errno");
                    Error::sys("ftok", context, errno).with_message(format!("{text} ({name})"))
                }
                None => Error::new(ErrorKind::Other, "ftok", context, e.to_string()),
            }
        })?;
        Ok(Key::from_parts(meta.ino(), meta.dev(), proj_id))
    }

    /// The `ftok` arithmetic on an inode number, a device number and a project id.
    ///
    /// # References
    /// - [`ftok(3)`](https://man7.org/linux/man-pages/man3/ftok.3.html)
    pub const fn from_parts(ino: u64, dev: u64, proj_id: i32) -> Key {
        let key =
            (ino & 0xffff) as u32 | (((dev & 0xff) as u32) << 16) | ((proj_id as u32 & 0xff) << 24);
        Key(key as i32)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0 as u32)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}

impl fmt::LowerHex for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&(self.0 as u32), f)
    }
}

impl fmt::UpperHex for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::UpperHex::fmt(&(self.0 as u32), f)
    }
}

impl From<Key> for i32 {
    fn from(key: Key) -> i32 {
        key.0
    }
}

/// The error from parsing a [`Key`]: the text was not a 32-bit number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseKeyError {
    text: String,
}

impl fmt::Display for ParseKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid key {:?}: expected hex (0x6e77bcfb) or decimal (-2147483648 to 4294967295)",
            self.text
        )
    }
}

impl std::error::Error for ParseKeyError {}

impl FromStr for Key {
    type Err = ParseKeyError;

    /// Parses `0x…`/`0X…` as hex (at most 8 digits), anything else as decimal in
    /// `-2147483648..=4294967295` (values above `i32::MAX` wrap, as `key_t` does in C).
    fn from_str(s: &str) -> Result<Key, ParseKeyError> {
        let err = || ParseKeyError { text: s.to_owned() };
        let t = s.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        if let Some(hex) = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            if negative || hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            let value = u32::from_str_radix(hex, 16).map_err(|_| err())?;
            return Ok(Key(value as i32));
        }
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let magnitude: i64 = digits.parse().map_err(|_| err())?;
        let value = if negative { -magnitude } else { magnitude };
        if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&value) {
            return Err(err());
        }
        Ok(Key(value as u32 as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_0x_and_eight_hex_digits() {
        assert_eq!(Key::from_raw(0x1234).to_string(), "0x00001234");
        assert_eq!(Key::from_raw(-1).to_string(), "0xffffffff");
        assert_eq!(Key::PRIVATE.to_string(), "0x00000000");
    }

    #[test]
    fn parses_hex_and_decimal() {
        assert_eq!("0x6e77bcfb".parse(), Ok(Key::from_raw(0x6e77bcfb)));
        assert_eq!("0XFFFFFFFF".parse(), Ok(Key::from_raw(-1)));
        assert_eq!("-1".parse(), Ok(Key::from_raw(-1)));
        assert_eq!("4294967295".parse(), Ok(Key::from_raw(-1)));
        assert_eq!("-2147483648".parse(), Ok(Key::from_raw(i32::MIN)));
        assert_eq!("42".parse(), Ok(Key::from_raw(42)));
        assert_eq!("0".parse(), Ok(Key::PRIVATE));
        for bad in [
            "",
            "0x",
            "-0x1",
            "0x123456789",
            "4294967296",
            "-2147483649",
            "12a",
            "key",
        ] {
            assert!(bad.parse::<Key>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn round_trips_through_display() {
        for raw in [0, 1, -1, i32::MIN, i32::MAX, 0x41010203] {
            let key = Key::from_raw(raw);
            assert_eq!(key.to_string().parse(), Ok(key));
        }
    }

    #[test]
    fn from_parts_keeps_the_glibc_bits() {
        let key = Key::from_parts(0x1234_5678, 0xabcd, 0x1ff);
        assert_eq!(key.raw() as u32, 0xffcd_5678);
    }
}
