//! The names of user and group ids, for every listing of every personality (`ipcs`, `lsipc`,
//! `shmkit ls`, `stat`, `watch`).
//!
//! Each id is looked up once per run (`getpwuid_r(3)`, `getgrgid_r(3)` through the library):
//! a listing of thousands of objects usually has a handful of owners. `shmkit watch` calls
//! [`forget`] before each refresh, so that a long watch still sees users and groups that
//! are added or renamed while it runs.
//!
//! Where no user or group has the id, [`user`] and [`group`] give `None`; the callers decide
//! what to show instead, on purpose differently: the number ([`user_or_number`],
//! [`group_or_number`]: ipcs's owner columns, lsipc's `OWNER`, shmkit's text), nothing
//! (lsipc's `USER`, `CUSER`, `GROUP`, `CGROUP` cells), or JSON `null`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::thread::LocalKey;

/// Names looked up so far: id → name, or `None` when there is none.
type Cache = RefCell<HashMap<u32, Option<String>>>;

thread_local! {
    static USERS: Cache = Cache::default();
    static GROUPS: Cache = Cache::default();
}

/// The login name of `uid`, or `None` when no user has it.
pub(crate) fn user(uid: u32) -> Option<String> {
    cached(&USERS, uid, shmkit::info::user_name)
}

/// The name of group `gid`, or `None` when no group has it.
pub(crate) fn group(gid: u32) -> Option<String> {
    cached(&GROUPS, gid, shmkit::info::group_name)
}

/// The login name of `uid`, or the number when no user has it.
pub(crate) fn user_or_number(uid: u32) -> String {
    user(uid).unwrap_or_else(|| uid.to_string())
}

/// The name of group `gid`, or the number when no group has it.
pub(crate) fn group_or_number(gid: u32) -> String {
    group(gid).unwrap_or_else(|| gid.to_string())
}

/// Forgets every name looked up so far: the next lookups ask the system again.
pub(crate) fn forget() {
    USERS.with(|c| c.borrow_mut().clear());
    GROUPS.with(|c| c.borrow_mut().clear());
}

fn cached(
    cache: &'static LocalKey<Cache>,
    id: u32,
    lookup: fn(u32) -> Option<String>,
) -> Option<String> {
    cache.with(|c| {
        c.borrow_mut()
            .entry(id)
            .or_insert_with(|| lookup(id))
            .clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name_and_an_unused_id_falls_back_to_its_number() {
        assert_eq!(user(0).as_deref(), Some("root"));
        assert_eq!(user_or_number(0), "root");
        // Ids this high are not in any passwd or group file of a test machine.
        let unused = 4_000_000_000;
        assert_eq!(user(unused), None);
        assert_eq!(group(unused), None);
        assert_eq!(user_or_number(unused), "4000000000");
        assert_eq!(group_or_number(unused), "4000000000");
        forget();
        assert_eq!(user_or_number(unused), "4000000000", "looked up again");
    }
}
