//! The structures under test: how each is created and rebuilt, every word of its layout,
//! and the hostile values written into each word.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Spsc,
    Mpmc,
    PubSub,
    Named,
    Mutex,
    Condvar,
    SeqLock,
}

/// A structure travels to a soak process as its name.
impl common::probe::Arg for Kind {
    fn put(&self, out: &mut Vec<String>) {
        out.push(self.name().to_owned());
    }
    fn take(args: &mut common::probe::Args<'_>) -> Result<Self, String> {
        let name = args.next_arg("structure")?;
        Kind::parse(name).ok_or_else(|| format!("unknown structure {name:?}"))
    }
}

common::probe::probe_enum! {
    /// What a victim process does with the structure.
    #[derive(Copy, Eq)]
    pub(crate) enum Role {
        SpscSender,
        SpscReceiver,
        MpmcProducer,
        MpmcConsumer,
        MpmcBoth,
        PubSubPublisher,
        PubSubSubscriber,
        PubSubReadOnly,
        NamedSender,
        NamedReceiver,
        Mutex,
        Condvar,
        SeqLockWriter,
        SeqLockReader,
    }
}

impl Role {
    /// The role's name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::SpscSender => "spsc-sender",
            Role::SpscReceiver => "spsc-receiver",
            Role::MpmcProducer => "mpmc-producer",
            Role::MpmcConsumer => "mpmc-consumer",
            Role::MpmcBoth => "mpmc-both",
            Role::PubSubPublisher => "pubsub-publisher",
            Role::PubSubSubscriber => "pubsub-subscriber",
            Role::PubSubReadOnly => "pubsub-read-only",
            Role::NamedSender => "named-sender",
            Role::NamedReceiver => "named-receiver",
            Role::Mutex => "mutex",
            Role::Condvar => "condvar",
            Role::SeqLockWriter => "seqlock-writer",
            Role::SeqLockReader => "seqlock-reader",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Kind {
    pub(crate) const ALL: [Kind; 7] = [
        Kind::Spsc,
        Kind::Mpmc,
        Kind::PubSub,
        Kind::Named,
        Kind::Mutex,
        Kind::Condvar,
        Kind::SeqLock,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::PubSub => "pubsub",
            Kind::Named => "named",
            Kind::Mutex => "mutex",
            Kind::Condvar => "condvar",
            Kind::SeqLock => "seqlock",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The victims' roles.
    pub(crate) fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Kind::Spsc => &[SpscSender, SpscReceiver],
            Kind::Mpmc => &[MpmcProducer, MpmcConsumer, MpmcBoth],
            Kind::PubSub => &[PubSubPublisher, PubSubSubscriber, PubSubReadOnly],
            Kind::Named => &[NamedSender, NamedReceiver],
            Kind::Mutex => &[Mutex, Mutex],
            Kind::Condvar => &[Condvar, Condvar],
            Kind::SeqLock => &[SeqLockWriter, SeqLockReader],
        }
    }

    /// The bytes the structure spans in its segment (the random writes' range).
    pub(crate) fn extent(self) -> (usize, usize) {
        match self {
            Kind::Spsc => (0, spsc::size_for(SPSC_CAP)),
            Kind::Mpmc => (0, mpmc::size_for(MPMC_CAP, MPMC_MSG)),
            Kind::PubSub => (0, pubsub::size_for(PS_SLOTS, PS_SLOT_SIZE)),
            Kind::Named => (0, NAMED_CHANNEL + spsc::size_for(SPSC_CAP)),
            Kind::Mutex => (0, RobustMutex::<Value, Attachment>::SIZE),
            Kind::Condvar => (CV_AT, EVENT_AT + Event::<Attachment>::SIZE),
            Kind::SeqLock => (0, SeqLock::<SeqValue, Attachment>::SIZE),
        }
    }

    /// Byte ranges a rebuild puts back from the snapshot taken after creation, as a peer
    /// could (the sync structures; the channels are laid out anew instead): the headers,
    /// the values, and the `pthread_mutex_t` words other than `__list` (`__lock`, `__count`,
    /// `__owner`, `__nusers`: "unlocked", as a peer that unlocks leaves it; `__kind`,
    /// `__spins`/`__elision`: as created). All of them while the victims call, like every
    /// other write. `__list` is never put back: it holds the holder's robust-list links,
    /// which the holder rewrites from its own record at every call, and nobody reads the
    /// links of a mutex it does not hold. Not the sequence words of a condition variable or
    /// an event: a waiter whose token equals the restored value would sleep on; they are
    /// bumped instead.
    pub(crate) fn restore_ranges(self) -> &'static [(usize, usize)] {
        match self {
            Kind::Mutex => &[(0, 64 + 24), (104, 128)],
            Kind::Condvar => &[
                (CV_MUTEX_AT + 64, CV_MUTEX_AT + 68),
                (CV_AT, CV_AT + 64),
                (CV_AT + 68, EVENT_AT + 64),
                (EVENT_AT + 68, EVENT_AT + 128),
            ],
            Kind::SeqLock => &[(0, 64 + 24), (136, 256)],
            _ => &[],
        }
    }

    /// What the watchdog's rescue puts back, after the scribbler stopped, when a victim is
    /// stuck in a call that waits without a timeout: as a rebuild, the condition variable's
    /// `pthread_mutex_t` words up to `__elision`, and the seqlock's `seq` (even). Never
    /// `__list`.
    pub(crate) fn rescue_ranges(self) -> &'static [(usize, usize)] {
        match self {
            Kind::Mutex => &[(0, 64 + 24), (104, 128)],
            Kind::Condvar => &[
                (CV_MUTEX_AT + 64, CV_MUTEX_AT + 88),
                (CV_AT, CV_AT + 64),
                (CV_AT + 68, EVENT_AT + 64),
                (EVENT_AT + 68, EVENT_AT + 128),
            ],
            Kind::SeqLock => &[(0, 64 + 24), (128, 256)],
            _ => &[],
        }
    }

    /// The futex words a rebuild wakes: lock words get every waiter woken, sequence words
    /// are bumped first.
    pub(crate) fn futex_words(self) -> (&'static [usize], &'static [usize]) {
        match self {
            Kind::Mutex | Kind::SeqLock => (&[64], &[]),
            Kind::Condvar => (&[CV_MUTEX_AT + 64], &[CV_AT + 64, EVENT_AT + 64]),
            _ => (&[], &[]),
        }
    }

    pub(crate) fn segment_size(self) -> usize {
        match self {
            Kind::Mpmc => mpmc::size_for(MPMC_CAP, MPMC_MSG),
            _ => 4096,
        }
    }

    /// Lays the structure out (the channels) in `region` at its place.
    pub(crate) fn lay_out_channel(self, region: &Region) -> shmkit::Result<()> {
        match self {
            Kind::Spsc => spsc::create_in(region, 0, SPSC_CAP),
            Kind::Mpmc => mpmc::create_in(region, 0, MPMC_CAP, MPMC_MSG),
            Kind::PubSub => pubsub::create_in(region, 0, PS_SLOTS, PS_SLOT_SIZE),
            Kind::Named => spsc::create_in(region, NAMED_CHANNEL, SPSC_CAP),
            _ => Ok(()),
        }
    }

    /// Creates the structure in a new segment; returns the segment's guard and, for a
    /// named channel, its name.
    pub(crate) fn create(self) -> (shmkit::RemoveOnDrop<Segment>, Option<String>) {
        if self == Kind::Named {
            let name = format!("soak-{}-{:016x}", std::process::id(), common::random_u64());
            let channel = NamedChannel::builder(&name)
                .spsc(SPSC_CAP)
                .create()
                .expect("creating the named channel");
            return (channel.segment().clone().remove_on_drop(), Some(name));
        }
        let seg = common::private_segment(self.segment_size());
        let map = seg.attach().unwrap();
        let region = map.region();
        match self {
            Kind::Mutex => drop(RobustMutex::<Value, _>::create_in(region, 0, [0; 3]).unwrap()),
            Kind::Condvar => {
                RobustMutex::<Value, _>::create_in(region, CV_MUTEX_AT, [0; 3]).unwrap();
                Condvar::create_in(region, CV_AT).unwrap();
                Event::create_in(region, EVENT_AT).unwrap();
            }
            Kind::SeqLock => drop(SeqLock::create_in(region, 0, [0u64; 8]).unwrap()),
            _ => self.lay_out_channel(region).unwrap(),
        }
        (seg, None)
    }
}

/// A word of a layout: where it is, its size (4 or 8), and values that mean something for
/// it (on top of the values every word gets).
pub(crate) struct Word {
    pub(crate) name: String,
    pub(crate) at: usize,
    pub(crate) size: usize,
    pub(crate) related: Vec<u64>,
}

pub(crate) fn word(
    out: &mut Vec<Word>,
    name: impl Into<String>,
    at: usize,
    size: usize,
    related: Vec<u64>,
) {
    out.push(Word {
        name: name.into(),
        at,
        size,
        related,
    });
}

pub(crate) fn load(region: &Region, at: usize, size: usize) -> u64 {
    if size == 8 {
        region.load_u64(at, Ordering::Acquire).unwrap()
    } else {
        u64::from(region.load_u32(at, Ordering::Acquire).unwrap())
    }
}

pub(crate) fn store(region: &Region, at: usize, size: usize, v: u64) {
    if size == 8 {
        region.atomic_u64(at).unwrap().store(v, Ordering::SeqCst)
    } else {
        region
            .atomic_u32(at)
            .unwrap()
            .store(v as u32, Ordering::SeqCst)
    }
}

/// Puts `old` back if the word still holds `v`.
pub(crate) fn restore(region: &Region, at: usize, size: usize, v: u64, old: u64) {
    if size == 8 {
        let _ = region.atomic_u64(at).unwrap().compare_exchange(
            v,
            old,
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
    } else {
        let _ = region.atomic_u32(at).unwrap().compare_exchange(
            v as u32,
            old as u32,
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
    }
}

/// The 64-byte header of `sync::header`, at `base`.
pub(crate) fn header_words(out: &mut Vec<Word>, region: &Region, base: usize, what: &str) {
    let total = load(region, base + 20, 4);
    let payload = load(region, base + 24, 4);
    let magic = load(region, base, 8);
    let fields: [(&str, usize, usize, Vec<u64>); 12] = [
        ("magic", 0, 8, vec![magic ^ 1, magic.swap_bytes()]),
        ("version", 8, 4, vec![]),
        ("init state", 12, 4, vec![]),
        ("header size", 16, 4, vec![]),
        (
            "total size",
            20,
            4,
            vec![total + 64, total.wrapping_sub(64), total * 2],
        ),
        ("payload size", 24, 4, vec![payload + 8, payload * 2]),
        ("payload align", 28, 4, vec![]),
        ("pid namespace", 32, 8, vec![]),
        ("creator pid", 40, 4, vec![]),
        ("pthread size", 44, 4, vec![40, 48]),
        ("reserved 48", 48, 8, vec![]),
        ("reserved 56", 56, 8, vec![]),
    ];
    for (name, at, size, related) in fields {
        word(
            out,
            format!("{what} header {name}"),
            base + at,
            size,
            related,
        );
    }
}

/// The `pthread_mutex_t` words (glibc, x86-64) at `base`.
pub(crate) fn pthread_words(out: &mut Vec<Word>, region: &Region, base: usize, what: &str) {
    pub(crate) const OWNER_DIED: u64 = 0x4000_0000;
    pub(crate) const WAITERS: u64 = 0x8000_0000;
    let kind = load(region, base + 16, 4);
    let list = region.as_ptr() as u64 + base as u64 + 24; // our own address of it
    let fields: [(&str, usize, usize, Vec<u64>); 8] = [
        (
            "__lock",
            0,
            4,
            vec![OWNER_DIED, WAITERS, OWNER_DIED | WAITERS],
        ),
        ("__count", 4, 4, vec![]),
        ("__owner", 8, 4, vec![0x7fff_ffff, 0x7fff_fffe]),
        ("__nusers", 12, 4, vec![]),
        (
            "__kind",
            16,
            4,
            vec![
                kind,
                0,
                1,
                2,
                3,
                0x10,
                0x11,
                0x12,
                0x13,
                0x20,
                0x22,
                0x30,
                0x32,
                0x40,
                0x42,
                0x50,
                0x52,
                0x80,
                0x82,
                0x90,
                0x92,
                0xa2,
                0xb2,
                0xc2,
                0xd2,
                0x100,
                0x112,
                0x192,
                kind & !0x10,
                kind | 0x20,
                kind | 0x40,
            ],
        ),
        ("__spins/__elision", 20, 4, vec![0x0001_0000, 0x0003_0000]),
        (
            "__list.__prev",
            24,
            8,
            vec![list, list | 1, list - 24, 0x1000],
        ),
        (
            "__list.__next",
            32,
            8,
            vec![list, list | 1, list - 24, 0x1000],
        ),
    ];
    // Every word is written while the victims call, whatever a victim is doing with the
    // mutex: no code in shmkit trusts any of them (see `# Hostile peers` in
    // `shmkit::sync::RobustMutex`).
    for (name, at, size, related) in fields {
        word(out, format!("{what} {name}"), base + at, size, related);
    }
}

/// The SPSC channel's words at `base`, with values relative to its current indices.
pub(crate) fn spsc_words(out: &mut Vec<Word>, region: &Region, base: usize) {
    pub(crate) const RING: usize = 256;
    pub(crate) const TAG_MSG: u64 = 0x4d53_4721 << 32;
    pub(crate) const TAG_PAD: u64 = 0x5041_4421 << 32;
    let cap = SPSC_CAP as u64;
    let max = spsc::max_message(SPSC_CAP) as u64;
    header_words(out, region, base, "spsc");
    let tail = load(region, base + 64, 8);
    let head = load(region, base + 128, 8);
    word(
        out,
        "spsc tail",
        base + 64,
        8,
        [
            head,
            head.wrapping_add(cap),
            head.wrapping_add(cap + 16),
            head.wrapping_add(16),
            1 << 62,
            (1 << 62) + 16,
        ]
        .to_vec(),
    );
    word(
        out,
        "spsc head",
        base + 128,
        8,
        [
            tail,
            tail.wrapping_add(16),
            tail.wrapping_sub(cap),
            tail.wrapping_sub(cap + 16),
            1 << 62,
        ]
        .to_vec(),
    );
    word(out, "spsc sender pid", base + 192, 4, vec![]);
    word(out, "spsc receiver pid", base + 196, 4, vec![]);
    word(out, "spsc wake", base + 200, 4, vec![]);
    word(out, "spsc parked", base + 204, 4, vec![]);
    let kinds = |at: u64| {
        let room = cap - (at % cap); // 16 to cap
        vec![
            TAG_MSG,
            TAG_MSG | 12,
            TAG_MSG | max,
            TAG_MSG | (max + 1),
            TAG_MSG | (room - 16),
            TAG_MSG | room,
            TAG_MSG | 0xffff_ffff,
            TAG_PAD,
            TAG_PAD | 16,
            (0x1234 << 32) | 4,
        ]
    };
    for (what, at) in [("head", head), ("tail", tail), ("ring start", 0)] {
        let slot = base + RING + (at % cap) as usize / 16 * 16;
        word(
            out,
            format!("spsc stamp at {what}"),
            slot,
            8,
            [1, 0, 2, 1 + cap]
                .map(|d| at.wrapping_add(d))
                .into_iter()
                .chain([tail.wrapping_add(1), head.wrapping_add(1)])
                .collect(),
        );
        word(
            out,
            format!("spsc length-and-tag at {what}"),
            slot + 8,
            8,
            kinds(at),
        );
    }
}

pub(crate) fn mpmc_words(out: &mut Vec<Word>, region: &Region) {
    pub(crate) const SLOTS: usize = 256 + 64 * 64;
    let stride = mpmc::size_for(2, MPMC_MSG).saturating_sub(mpmc::size_for(1, MPMC_MSG));
    let cap = MPMC_CAP as u64;
    header_words(out, region, 0, "mpmc");
    let enq = load(region, 64, 8);
    let deq = load(region, 128, 8);
    word(
        out,
        "mpmc enqueue",
        64,
        8,
        [
            deq,
            deq.wrapping_add(cap),
            deq.wrapping_add(cap + 1),
            1 << 59,
            1 << 60,
            (1 << 60) + 1,
        ]
        .to_vec(),
    );
    word(
        out,
        "mpmc dequeue",
        128,
        8,
        [
            enq,
            enq.wrapping_add(1),
            enq.wrapping_sub(cap),
            1 << 59,
            1 << 60,
        ]
        .to_vec(),
    );
    word(out, "mpmc wake", 192, 4, vec![]);
    word(out, "mpmc parked", 196, 4, vec![]);
    let pid = u64::from(std::process::id());
    // The victims register in the first entries; the last one too.
    for i in [0usize, 1, 2, 63] {
        let at = 256 + 64 * i;
        word(
            out,
            format!("mpmc handle {i} who"),
            at,
            8,
            vec![
                1 << 32,
                2 << 32,
                3 << 32,
                (1 << 32) | pid,
                (2 << 32) | pid,
                (1 << 32) | 1,
                (2 << 32) | 1,
            ],
        );
        word(
            out,
            format!("mpmc handle {i} intent"),
            at + 8,
            8,
            [enq, enq.wrapping_add(1), deq, deq.wrapping_add(1)].to_vec(),
        );
    }
    // Slots 0, 1 and the last, and the slots of the next positions to consume and to
    // produce, with sequence words around the positions they carry next.
    let slots = [("0", 0), ("1", 1), ("last", cap - 1)]
        .map(|(what, i)| (what.to_owned(), i))
        .into_iter()
        .chain([
            ("at dequeue".to_owned(), deq % cap),
            ("at enqueue".to_owned(), enq % cap),
        ]);
    for (what, i) in slots {
        // The position this slot carries next: the first at or after `dequeue`.
        let p = deq.wrapping_add(i.wrapping_sub(deq) % cap);
        let at = SLOTS + i as usize * stride;
        let seqs = [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (cap, 0),
            (cap, 1),
            (2 * cap, 0),
        ]
        .map(|(ahead, skip)| p.wrapping_add(ahead).wrapping_mul(2).wrapping_add(skip));
        let mut related = seqs.to_vec();
        related.push(p.wrapping_sub(cap).wrapping_mul(2));
        word(out, format!("mpmc slot {what} sequence"), at, 8, related);
        word(
            out,
            format!("mpmc slot {what} length"),
            at + 8,
            4,
            vec![MPMC_MSG as u64, MPMC_MSG as u64 + 1, 64],
        );
    }
}

pub(crate) fn pubsub_words(out: &mut Vec<Word>, region: &Region) {
    let stride = pubsub::size_for(2, PS_SLOT_SIZE) - pubsub::size_for(1, PS_SLOT_SIZE);
    let slots = PS_SLOTS as u64;
    header_words(out, region, 0, "pubsub");
    let head = load(region, 128, 8);
    word(
        out,
        "pubsub slots",
        64,
        4,
        vec![4, 16, 7, 9, 1 << 24, 1 << 25],
    );
    word(out, "pubsub policy", 68, 4, vec![]);
    word(out, "pubsub publisher pid", 72, 4, vec![]);
    word(
        out,
        "pubsub head",
        128,
        8,
        [
            head.wrapping_add(slots),
            head.wrapping_add(slots + 1),
            head.wrapping_sub(slots),
            1 << 62,
            (1 << 62) + 1,
        ]
        .to_vec(),
    );
    word(out, "pubsub wake", 192, 4, vec![]);
    word(out, "pubsub parked", 200, 8, vec![1 << 63, 0xff]);
    for i in [0usize, 1, 2, 63] {
        word(
            out,
            format!("pubsub subscriber {i} pid"),
            256 + 4 * i,
            4,
            vec![],
        );
    }
    // Slots 0, 1 and the last, the slot of the next message and of the last one.
    let picked = [("0", 0), ("1", 1), ("last", slots - 1)]
        .map(|(what, i)| (what.to_owned(), i))
        .into_iter()
        .chain([
            ("of the next message".to_owned(), head % slots),
            (
                "of the last message".to_owned(),
                head.wrapping_sub(1) % slots,
            ),
        ]);
    for (what, i) in picked {
        // The message this slot holds next: the first at or after head.
        let s = head.wrapping_add(i.wrapping_sub(head) % slots);
        let at = 512 + i as usize * stride;
        let mut related = [(0, 1), (0, 2), (0, 3), (slots, 1), (slots, 2)]
            .map(|(ahead, odd)| s.wrapping_add(ahead).wrapping_mul(2).wrapping_add(odd))
            .to_vec();
        related.extend([
            s.wrapping_sub(slots).wrapping_mul(2).wrapping_add(2),
            (1 << 63) + 2,
        ]);
        word(out, format!("pubsub slot {what} stamp"), at, 8, related);
        word(
            out,
            format!("pubsub slot {what} length"),
            at + 8,
            8,
            vec![PS_SLOT_SIZE as u64, PS_SLOT_SIZE as u64 + 1, 1 << 32],
        );
    }
}

pub(crate) fn named_words(out: &mut Vec<Word>, region: &Region) {
    header_words(out, region, 0, "name block");
    let hash = load(region, 64, 8);
    let len = load(region, 76, 4);
    let size = load(region, 80, 8);
    let room = (region.len() - NAMED_CHANNEL) as u64;
    word(
        out,
        "name block hash",
        64,
        8,
        vec![hash ^ 1, shmkit::channel::named::name_hash("other")],
    );
    word(out, "name block kind", 72, 4, vec![]);
    word(
        out,
        "name block name length",
        76,
        4,
        vec![len.wrapping_sub(1), len + 1, 160, 161],
    );
    word(
        out,
        "name block channel size",
        80,
        8,
        vec![size.wrapping_add(1), room, room + 1],
    );
    // The soak's names have 26 to 28 bytes: four words.
    for i in 0..4 {
        let w = load(region, 96 + 8 * i, 8);
        word(
            out,
            format!("name block name bytes {}", 8 * i),
            96 + 8 * i,
            8,
            vec![w ^ 0x20, w ^ 0x80, u64::from_ne_bytes(*b"other\0\0\0")],
        );
    }
    spsc_words(out, region, NAMED_CHANNEL);
}

pub(crate) fn mutex_words(out: &mut Vec<Word>, region: &Region) {
    header_words(out, region, 0, "mutex");
    pthread_words(out, region, 64, "mutex");
    for i in 0..3 {
        word(out, format!("mutex value {i}"), 104 + 8 * i, 8, vec![]);
    }
}

pub(crate) fn condvar_words(out: &mut Vec<Word>, region: &Region) {
    word(
        out,
        "condvar's mutex __lock",
        CV_MUTEX_AT + 64,
        4,
        vec![0x4000_0000, 0x8000_0000],
    );
    for (what, base) in [("condvar", CV_AT), ("event", EVENT_AT)] {
        header_words(out, region, base, what);
        let seq = load(region, base + 64, 4);
        word(
            out,
            format!("{what} seq"),
            base + 64,
            4,
            vec![seq.wrapping_add(2)],
        );
        word(out, format!("{what} waiters"), base + 68, 4, vec![]);
        word(out, format!("{what} padding 72"), base + 72, 8, vec![]);
        word(out, format!("{what} padding 120"), base + 120, 8, vec![]);
    }
}

pub(crate) fn seqlock_words(out: &mut Vec<Word>, region: &Region) {
    header_words(out, region, 0, "seqlock");
    pthread_words(out, region, 64, "seqlock writer");
    let seq = load(region, 128, 4);
    word(
        out,
        "seqlock seq",
        128,
        4,
        vec![seq | 1, seq.wrapping_add(2), 0xffff_fffe],
    );
    word(out, "seqlock padding 132", 132, 4, vec![]);
    for i in [0usize, 7] {
        word(out, format!("seqlock value {i}"), 136 + 8 * i, 8, vec![]);
    }
}

/// Every word of `kind`'s layout, with values relative to the structure's current state.
pub(crate) fn words(kind: Kind, region: &Region) -> Vec<Word> {
    let mut out = Vec::new();
    match kind {
        Kind::Spsc => spsc_words(&mut out, region, 0),
        Kind::Mpmc => mpmc_words(&mut out, region),
        Kind::PubSub => pubsub_words(&mut out, region),
        Kind::Named => named_words(&mut out, region),
        Kind::Mutex => mutex_words(&mut out, region),
        Kind::Condvar => condvar_words(&mut out, region),
        Kind::SeqLock => seqlock_words(&mut out, region),
    }
    out
}

/// The pids and tids the scribbler writes where pids go.
pub(crate) struct Pids {
    pub(crate) all: Vec<u64>,
}

impl Pids {
    pub(crate) fn gather(board: &Board, victims: usize) -> Pids {
        let mut all = vec![
            u64::from(std::process::id()),
            u64::from(gettid()),
            1,
            4242,
            u64::from(dead_pid()),
        ];
        for i in 0..victims {
            all.push(board.get(FIRST_VICTIM + i, PID));
            all.push(board.get(FIRST_VICTIM + i, TID));
        }
        Pids { all }
    }
}

/// The pid of a process that has exited and been reaped.
pub(crate) fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("running true");
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// The values the scribbler writes into a word that holds `cur`.
pub(crate) fn hostile_values(w: &Word, cur: u64, pids: &Pids) -> Vec<u64> {
    let mut v: Vec<u64> = vec![
        0,
        1,
        2,
        3,
        7,
        8,
        15,
        16,
        63,
        64,
        255,
        4096,
        0x4000_0000,
        0x7fff_fffe,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_fffe,
        0xffff_ffff,
        1 << 32,
        (1 << 32) + 1,
        1 << 59,
        (1 << 60) - 1,
        1 << 60,
        (1 << 60) + 1,
        1 << 62,
        (1 << 62) + 1,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ];
    v.extend([
        cur.wrapping_add(1),
        cur.wrapping_sub(1),
        cur.wrapping_add(16),
        cur.wrapping_sub(16),
        cur ^ 1,
        cur << 1,
        !cur,
        cur | 0x8000_0000,
    ]);
    v.extend_from_slice(&pids.all);
    if w.name.ends_with("__lock") || w.name.ends_with("__owner") {
        // Thread ids with the robust futex bits: FUTEX_OWNER_DIED, FUTEX_WAITERS.
        for &p in &pids.all {
            v.extend([p | 0x4000_0000, p | 0x8000_0000]);
        }
    }
    v.extend_from_slice(&w.related);
    let mut seen = std::collections::HashSet::new();
    v.into_iter()
        .map(|x| if w.size == 4 { x & 0xffff_ffff } else { x })
        .filter(|&x| x != cur && seen.insert(x))
        .collect()
}
