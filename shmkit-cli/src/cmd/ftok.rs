//! `shmkit ftok PATH PROJ_ID`: the key `ftok(3)` makes of a path and a project id.

use super::{Out, Result};
use shmkit::Key;
use std::path::Path;

/// Parses a project id as C code writes one: a number (`65`, `-1`, `0x41`) or exactly one
/// ASCII character (`A`, as in `ftok(".", 'A')`). A string of digits is a number, so `1`
/// is 1, not `'1'` (49). Only the low 8 bits reach the key, as in glibc.
///
/// Decimal takes any `i32`; hex (`0x`/`0X`, at most 8 digits) any 32-bit pattern.
///
/// # Errors
/// A message for clap to show after the value, for anything else (`AB`, an empty string,
/// a non-ASCII character, a number out of range).
pub(crate) fn parse_proj_id(text: &str) -> Result<i32, String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        if negative
            || hex.is_empty()
            || hex.len() > 8
            || !hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err("expected hex of 1 to 8 digits after 0x (like 0x41)".to_owned());
        }
        let value = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
        return Ok(value as i32);
    }
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i32>()
            .map_err(|_| format!("{text} is out of range for an int (-2147483648 to 2147483647)"));
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() => Ok(c as i32),
        (Some(_), None) => Err("a one-character project id must be ASCII".to_owned()),
        _ => Err(
            "expected a number (65, 0x41) or exactly one character (A, as in ftok(path, 'A'))"
                .to_owned(),
        ),
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
        assert_eq!(parse_proj_id("-1"), Ok(-1));
        assert_eq!(parse_proj_id("+7"), Ok(7));
        assert_eq!(parse_proj_id("-"), Ok(45));
        assert_eq!(parse_proj_id("x"), Ok(120));
        assert_eq!(parse_proj_id("2147483647"), Ok(i32::MAX));
        assert_eq!(parse_proj_id("-2147483648"), Ok(i32::MIN));
        assert_eq!(parse_proj_id("0xffffffff"), Ok(-1));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "AB",
            "0x",
            "0xg",
            "-0x1",
            "0x123456789",
            "2147483648",
            "é",
            "1a",
            "--",
        ] {
            assert!(parse_proj_id(bad).is_err(), "{bad:?} parsed");
        }
    }
}
