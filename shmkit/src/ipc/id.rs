//! The kernel's identifiers of IPC objects (`shmid`, `semid`, `msqid`): one newtype each, so
//! that an id of one facility cannot be passed to another, all made by [`ipc_id`].

/// What the shared code needs of an id: its raw value, and to show it in errors.
pub(crate) trait IpcId: Copy + Eq + std::fmt::Display {
    /// The raw value, as the kernel takes it.
    fn raw(self) -> i32;
}

/// Defines an id newtype: `from_raw`, `raw`, `Display` as the number, `Debug` as `Name(n)`.
macro_rules! ipc_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i32);

        impl $name {
            /// An id from its raw value.
            pub const fn from_raw(raw: i32) -> $name {
                $name(raw)
            }

            /// The raw value, as the kernel takes it.
            pub const fn raw(self) -> i32 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl $crate::ipc::id::IpcId for $name {
            fn raw(self) -> i32 {
                self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

pub(crate) use ipc_id;
