//! `Key::ftok` against glibc's `ftok` on real paths.

mod common;

use shmkit::{ErrorKind, Key};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Up to `limit` real paths under `root`, breadth-first, not following symlinked dirs.
fn collect(root: &str, limit: usize, out: &mut Vec<PathBuf>) {
    let mut queue = vec![PathBuf::from(root)];
    let start = out.len();
    while let Some(dir) = queue.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if out.len() - start >= limit {
                return;
            }
            let path = entry.path();
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                queue.push(path.clone());
            }
            out.push(path);
        }
    }
}

#[test]
fn ftok_is_bit_identical_to_glibc_on_1000_paths() {
    let tmp = common::TempDir::new("ftok");
    for i in 0..50 {
        std::fs::write(tmp.path().join(format!("f{i}")), b"x").unwrap();
    }
    let mut paths = vec![
        PathBuf::from("/"),
        PathBuf::from("."),
        tmp.path().to_owned(),
    ];
    collect(tmp.path().to_str().unwrap(), 60, &mut paths);
    collect("/usr/lib", 600, &mut paths);
    collect("/etc", 300, &mut paths);
    collect("/dev", 150, &mut paths); // devtmpfs: another device number
    collect("/sys/kernel", 100, &mut paths); // sysfs
    collect("/dev/shm", 20, &mut paths); // tmpfs
    paths.push(PathBuf::from("/no/such/path/for/shmkit"));
    assert!(paths.len() >= 1000, "only {} paths found", paths.len());

    let mut compared = 0;
    let mut devices = std::collections::BTreeSet::new();
    for path in &paths {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        for proj in [0, 1, 65, 255, 256, 257, -1, 0x1234_5678] {
            // SAFETY: `c` is a valid NUL-terminated string.
            let theirs = unsafe { libc::ftok(c.as_ptr(), proj) };
            let errno = std::io::Error::last_os_error().raw_os_error();
            match Key::ftok(path, proj) {
                Ok(ours) => {
                    assert_eq!(ours.raw(), theirs, "ftok({}, {proj})", path.display());
                    devices.insert((ours.raw() as u32 >> 16) & 0xff);
                }
                Err(e) => {
                    assert_eq!(
                        theirs,
                        -1,
                        "ftok({}, {proj}): we failed with {e}",
                        path.display()
                    );
                    assert_eq!(e.raw_os_error(), errno, "{}", path.display());
                }
            }
            compared += 1;
        }
    }
    assert!(compared >= 6000);
    assert!(devices.len() >= 2, "all paths on one device: {devices:?}");
}

#[test]
fn missing_path_is_not_found_and_names_the_path() {
    let err = Key::ftok("/no/such/dir/shmkit", 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(
        err.to_string(),
        "ftok(path=/no/such/dir/shmkit, proj_id=1): no such file or directory (ENOENT)"
    );
}

#[test]
fn proj_id_keeps_only_its_low_8_bits() {
    let tmp = common::TempDir::new("ftok-bits");
    let a = Key::ftok(tmp.path(), 1).unwrap();
    assert_eq!(Key::ftok(tmp.path(), 257).unwrap(), a);
    assert_eq!(a.raw() as u32 >> 24, 1);
    assert_eq!(Key::ftok(tmp.path(), 256).unwrap().raw() as u32 >> 24, 0);
}
