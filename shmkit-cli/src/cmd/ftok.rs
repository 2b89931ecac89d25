//! `shmkit ftok PATH PROJ_ID`: the key `ftok(3)` makes of a path and a project id.

use super::{Out, Result};
use shmkit::Key;
use std::path::Path;

/// The largest project id: `ftok(3)` (glibc, and shmkit's [`Key::ftok`]) uses only the
/// low 8 bits of `proj_id`, so a larger one names the same key as its low byte.
pub(crate) const MAX_PROJ_ID: i64 = 255;

/// Parses a project id as C code writes one: a number from 0 to 255 (`65`, `0x41`) or
/// exactly one ASCII character (`A`, as in `ftok(".", 'A')`). A string of digits is a
/// number, so `1` is 1, not `'1'` (49).
///
/// A number outside 0..=255 is refused, not silently cut to its low 8 bits as glibc's
/// `ftok` does: `300` would give the same key as `44`, which is surely not what was meant.
/// The message says which id would give that key.
///
/// # Errors
/// A message for clap to show after the value, for anything else (`AB`, an empty string,
/// a non-ASCII character, a number out of range).
pub(crate) fn parse_proj_id(text: &str) -> Result<i32, String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let number = if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        if negative || hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("expected a hex number after 0x (like 0x41)".to_owned());
        }
        i64::from_str_radix(hex, 16).ok()
    } else if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>().ok()
    } else {
        let mut chars = text.chars();
        return match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii() => Ok(c as i32),
            (Some(_), None) => Err("a one-character project id must be ASCII".to_owned()),
            _ => Err(
                "expected a number from 0 to 255 (65, 0x41) or exactly one character \
                 (A, as in ftok(path, 'A'))"
                    .to_owned(),
            ),
        };
    };
    match number {
        Some(n) if (0..=MAX_PROJ_ID).contains(&n) => Ok(n as i32),
        Some(n) => Err(format!(
            "a project id is from 0 to {MAX_PROJ_ID}: ftok(3) uses only its low 8 bits, so \
             {text} would give the same key as {} (pass that if it is what you mean)",
            n & 0xff
        )),
        None => Err(format!(
            "a project id is from 0 to {MAX_PROJ_ID} (ftok(3) uses only its low 8 bits)"
        )),
    }
}

/// Prints `ftok(path, proj_id)` as `0x%08x`, or with `json`
/// `{"path": ..., "proj_id": ..., "key": "0x%08x", "key_raw": ...}` (`key_raw` is the
/// signed `key_t`; a path that is not UTF-8 is shown lossily).
///
/// # Errors
/// The library's error when `path` cannot be `stat`ed; it names the path.
pub(crate) fn run(out: &mut Out, path: &Path, proj_id: i32, json: bool) -> Result<()> {
    let key = Key::ftok(path, proj_id)?;
    if !json {
        return out.line(key);
    }
    let mut map = serde_json::Map::new();
    map.insert("path".into(), path.to_string_lossy().into_owned().into());
    map.insert("proj_id".into(), proj_id.into());
    crate::format::key_json(&mut map, key);
    out.json(&serde_json::Value::Object(map), false)
}

#[cfg(test)]
mod tests {
    use super::parse_proj_id;

    #[test]
    fn numbers_and_characters() {
        assert_eq!(parse_proj_id("A"), Ok(65));
        assert_eq!(parse_proj_id("65"), Ok(65));
        assert_eq!(parse_proj_id("0x41"), Ok(65));
        assert_eq!(parse_proj_id("0X41"), Ok(65));
        assert_eq!(parse_proj_id("1"), Ok(1), "all digits is a number, not '1'");
        assert_eq!(parse_proj_id("0"), Ok(0));
        assert_eq!(parse_proj_id("+7"), Ok(7));
        assert_eq!(parse_proj_id("255"), Ok(255));
        assert_eq!(parse_proj_id("0xff"), Ok(255));
        assert_eq!(parse_proj_id("0x0000ff"), Ok(255));
        assert_eq!(parse_proj_id("-"), Ok(45));
        assert_eq!(parse_proj_id("x"), Ok(120));
    }

    /// Issue 10, item 5: `shmkit ftok /tmp 300` printed the key of 44 without a word.
    #[test]
    fn proj_ids_past_8_bits_are_refused_naming_the_id_they_would_equal() {
        let err = parse_proj_id("300").unwrap_err();
        assert!(err.contains("0 to 255"), "{err}");
        assert!(err.contains("low 8 bits"), "{err}");
        assert!(err.contains("300 would give the same key as 44"), "{err}");
        for (text, same) in [("256", 0), ("-1", 255), ("0x1ff", 255), ("0x12c", 44)] {
            let err = parse_proj_id(text).unwrap_err();
            assert!(
                err.contains(&format!("{text} would give the same key as {same}")),
                "{text}: {err}"
            );
        }
        for huge in [
            "2147483648",
            "99999999999999999999999",
            "0xffffffffffffffffff",
        ] {
            let err = parse_proj_id(huge).unwrap_err();
            assert!(err.contains("0 to 255"), "{huge}: {err}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "AB", "0x", "0xg", "-0x1", "é", "1a", "--"] {
            assert!(parse_proj_id(bad).is_err(), "{bad:?} parsed");
        }
    }
}
