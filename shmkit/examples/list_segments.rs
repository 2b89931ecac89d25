//! Every segment on the system, like `ipcs -m`, plus the kernel's limits and usage.
//!
//! `cargo run --example list_segments`
use shmkit::info;

fn main() -> Result<(), shmkit::Error> {
    let limits = info::shm_limits()?;
    let usage = info::shm_usage()?;
    println!(
        "limits: shmmax {} B, shmall {} pages, shmmni {}; in use: {} segments, {} pages",
        limits.shmmax, limits.shmall, limits.shmmni, usage.segments, usage.pages
    );
    println!(
        "{:<10} {:<10} {:<10} {:<10} {:<10} {:<10} status",
        "key", "shmid", "owner", "perms", "bytes", "nattch"
    );
    for s in info::segments()? {
        let owner = info::user_name(s.uid).unwrap_or_else(|| s.uid.to_string());
        let status = match (s.dest, s.locked) {
            (true, true) => "dest locked",
            (true, false) => "dest",
            (false, true) => "locked",
            (false, false) => "",
        };
        println!(
            "{:<10} {:<10} {:<10} {:<10o} {:<10} {:<10} {status}",
            s.key.to_string(),
            s.id,
            owner,
            s.mode,
            s.size,
            s.nattch
        );
    }
    Ok(())
}
