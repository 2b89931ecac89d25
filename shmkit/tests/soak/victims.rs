//! The victims: real endpoints calling every operation with short timeouts, each call
//! measured and its outcome recorded.

use super::*;

/// One victim's record of its calls.
pub(crate) struct Victim {
    pub(crate) board: Board,
    pub(crate) slot: usize,
    pub(crate) rng: Rng,
    pub(crate) bound: Duration,
    pub(crate) ops: u64,
    pub(crate) ok: u64,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) panics: Vec<String>,
    pub(crate) late: Vec<String>,
    /// The call that returned furthest past its timeout (or past 0 for calls that do not
    /// wait): by how much, and which.
    pub(crate) worst: (Duration, String),
    /// The longest call that waits without a timeout.
    pub(crate) untimed: (Duration, String),
    /// The last call's error, if it failed.
    pub(crate) last: Option<ErrorKind>,
}

impl Victim {
    /// Whether to stop; called between calls, at the top of every victim's loop, where
    /// the victim holds no lock: it pauses there while another victim has the structure to
    /// itself.
    pub(crate) fn stopped(&self) -> bool {
        self.checkpoint();
        self.board.stopped()
    }

    /// Pauses while another victim has the structure to itself (`SOLO`).
    fn checkpoint(&self) {
        loop {
            let solo = self.board.get(CONTROL, SOLO);
            if solo == 0 || solo == self.slot as u64 || self.board.stopped() {
                return;
            }
            while self.board.get(CONTROL, SOLO) == solo && !self.board.stopped() {
                std::thread::yield_now();
            }
        }
    }

    pub(crate) fn timeout(&mut self) -> Duration {
        TIMEOUTS[self.rng.below(TIMEOUTS.len())]
    }

    pub(crate) fn wait_mode(&mut self) -> Wait {
        [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 64 }][self.rng.below(3)]
    }

    /// Runs one call: `timeout` is its timeout, `Some(ZERO)` for a call that does not wait,
    /// `None` for one that waits without a timeout. Records how long it took and how it
    /// ended; returns its value if it succeeded.
    pub(crate) fn call<T>(
        &mut self,
        op: &str,
        timeout: Option<Duration>,
        f: impl FnOnce() -> Result<T, ErrorKind>,
    ) -> Option<T> {
        self.board.begin(self.slot, op, timeout);
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(f));
        let took = start.elapsed();
        self.board.end(self.slot);
        self.ops += 1;
        match timeout {
            Some(t) => {
                let over = took.saturating_sub(t);
                if over >= self.worst.0 {
                    self.worst = (over, op.to_owned());
                }
                if over > self.bound {
                    self.late
                        .push(format!("{op} took {took:?} with a timeout of {t:?}"));
                }
            }
            None => {
                if took >= self.untimed.0 {
                    self.untimed = (took, op.to_owned());
                }
            }
        }
        self.last = None;
        match result {
            Ok(Ok(v)) => {
                self.ok += 1;
                Some(v)
            }
            Ok(Err(kind)) => {
                self.last = Some(kind);
                *self.errors.entry(format!("{kind:?}")).or_default() += 1;
                None
            }
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                self.panics.push(format!("{op}: {msg}"));
                None
            }
        }
    }

    /// Whether the endpoint should be opened again after the last call: it failed with
    /// something other than "nothing now" or "not in time".
    pub(crate) fn reopen(&self) -> bool {
        !matches!(
            self.last,
            None | Some(ErrorKind::WouldBlock | ErrorKind::TimedOut)
        )
    }

    pub(crate) fn report(&self, role: &str) -> String {
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect();
        format!(
            "role={role} ops={} ok={} panics={} late={} worst_over_us={} worst_op={:?} untimed_max_ms={} untimed_op={:?} errors={} first_panic={:?} first_late={:?}",
            self.ops,
            self.ok,
            self.panics.len(),
            self.late.len(),
            self.worst.0.as_micros(),
            self.worst.1,
            self.untimed.0.as_millis(),
            self.untimed.1,
            errors.join(","),
            self.panics.first().map(String::as_str).unwrap_or(""),
            self.late.first().map(String::as_str).unwrap_or(""),
        )
    }
}

pub(crate) const ZERO: Option<Duration> = Some(Duration::ZERO);
/// How many calls an endpoint makes before it is opened again.
pub(crate) const REOPEN_EVERY: u64 = 32;

pub(crate) fn kind_of(e: shmkit::Error) -> ErrorKind {
    e.kind()
}

pub(crate) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

pub(crate) fn spsc_sender<R: std::ops::Deref<Target = Region>>(
    v: &mut Victim,
    open_timeout: Duration,
    open: &dyn Fn() -> shmkit::Result<Sender<R>>,
) {
    let max = spsc::max_message(SPSC_CAP);
    let msgs: Vec<Vec<u8>> = [0, 1, 12, 100, max, max + 1].map(payload).to_vec();
    let mut tx: Option<Sender<R>> = None;
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let Some(s) = tx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
            drop(tx.take());
            tx = v.call("Sender::open_in", Some(open_timeout), || {
                open().map_err(kind_of)
            });
            continue;
        };
        let msg = &msgs[v.rng.below(msgs.len())];
        let t = v.timeout();
        match v.rng.below(4) {
            0 => v.call("Sender::try_send", ZERO, || {
                s.try_send(msg).map_err(|e| e.into_error().kind())
            }),
            1 => v.call("Sender::send_timeout", Some(t), || {
                s.send_timeout(msg, t).map_err(kind_of)
            }),
            2 => v.call("Sender::loan_timeout+commit", Some(t), || {
                let loan = s.loan_timeout(msg.len(), Some(t)).map_err(kind_of)?;
                loan.write_at(0, msg).map_err(kind_of)?;
                loan.commit();
                Ok(())
            }),
            _ => v
                .call("Sender::receiver_alive", ZERO, || Ok(s.receiver_alive()))
                .map(drop),
        };
        if v.reopen() {
            tx = None;
        }
    }
}

pub(crate) fn spsc_receiver<R: std::ops::Deref<Target = Region>>(
    v: &mut Victim,
    open_timeout: Duration,
    open: &dyn Fn() -> shmkit::Result<Receiver<R>>,
) {
    let mut rx: Option<Receiver<R>> = None;
    let mut buf = Vec::new();
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let Some(r) = rx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
            drop(rx.take());
            rx = v.call("Receiver::open_in", Some(open_timeout), || {
                open().map_err(kind_of)
            });
            continue;
        };
        let t = v.timeout();
        let mode = v.wait_mode();
        r.set_wait(mode);
        match v.rng.below(4) {
            0 => v
                .call("Receiver::try_recv_ref", ZERO, || {
                    match r.try_recv_ref().map_err(kind_of)? {
                        Some(m) => m.to_vec().map(|m| m.len()).map_err(kind_of),
                        None => Ok(0),
                    }
                })
                .map(drop),
            1 => v
                .call("Receiver::recv_ref_timeout", Some(t), || {
                    let m = r.recv_ref_timeout(t).map_err(kind_of)?;
                    m.to_vec().map(|m| m.len()).map_err(kind_of)
                })
                .map(drop),
            2 => v
                .call("Receiver::recv_timeout", Some(t), || {
                    r.recv_timeout(&mut buf, t).map_err(kind_of)
                })
                .map(drop),
            _ => v
                .call("Receiver::sender_alive", ZERO, || Ok(r.sender_alive()))
                .map(drop),
        };
        if v.reopen() {
            rx = None;
        }
    }
}

pub(crate) fn mpmc_victim(v: &mut Victim, region: &Region, produce: bool, consume: bool) {
    let mut tx: Option<Producer<&Region>> = None;
    let mut rx: Option<Consumer<&Region>> = None;
    let msgs: Vec<Vec<u8>> = [0, 1, 8, MPMC_MSG, MPMC_MSG + 1].map(payload).to_vec();
    let mut buf = [0u8; MPMC_MSG];
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        // The victim that does both mostly produces: a consumer waiting alone on an
        // empty queue is the case a second consumer's claims would cut short.
        let producing = produce && (!consume || v.rng.below(4) != 0);
        if producing {
            let Some(p) = tx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
                drop(tx.take());
                tx = v.call("Producer::open_in", ZERO, || {
                    Producer::open_in(region, 0).map_err(kind_of)
                });
                continue;
            };
            let msg = &msgs[v.rng.below(msgs.len())];
            let t = v.timeout();
            match v.rng.below(5) {
                0 => v.call("Producer::try_send", ZERO, || {
                    p.try_send(msg).map_err(|e| e.into_error().kind())
                }),
                1 => v.call("Producer::send_timeout", Some(t), || {
                    p.send_timeout(msg, t).map_err(|e| e.into_error().kind())
                }),
                2 => v.call("Producer::loan+commit", ZERO, || {
                    let loan = p.loan(msg.len()).map_err(kind_of)?;
                    loan.write_at(0, msg).map_err(kind_of)?;
                    loan.commit().map_err(kind_of)
                }),
                3 => v.call("Producer::loan+drop", ZERO, || {
                    p.loan(msg.len()).map(drop).map_err(kind_of)
                }),
                _ => v
                    .call(
                        "Producer::consumers_alive",
                        ZERO,
                        || Ok(p.consumers_alive()),
                    )
                    .map(drop),
            };
            if v.reopen() {
                tx = None;
            }
        } else {
            let Some(c) = rx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
                drop(rx.take());
                rx = v.call("Consumer::open_in", ZERO, || {
                    Consumer::open_in(region, 0).map_err(kind_of)
                });
                continue;
            };
            let t = v.timeout();
            let mode = v.wait_mode();
            c.set_wait(mode);
            match v.rng.below(4) {
                0 => v
                    .call("Consumer::try_recv", ZERO, || {
                        c.try_recv(&mut buf).map_err(kind_of)
                    })
                    .map(drop),
                1 => v
                    .call("Consumer::recv_timeout", Some(t), || {
                        c.recv_timeout(&mut buf, t).map_err(kind_of)
                    })
                    .map(drop),
                2 => v
                    .call("Consumer::recv_ref_timeout+finish", Some(t), || {
                        let m = c.recv_ref_timeout(t).map_err(kind_of)?;
                        let bytes = m.to_vec().map_err(kind_of)?;
                        m.finish().map_err(kind_of)?;
                        Ok(bytes.len())
                    })
                    .map(drop),
                _ => v
                    .call(
                        "Consumer::producers_alive",
                        ZERO,
                        || Ok(c.producers_alive()),
                    )
                    .map(drop),
            };
            if v.reopen() {
                rx = None;
            }
        }
    }
}

pub(crate) fn pubsub_publisher(v: &mut Victim, region: &Region) {
    let msgs: Vec<Vec<u8>> = [0, 1, 8, PS_SLOT_SIZE, PS_SLOT_SIZE + 1]
        .map(payload)
        .to_vec();
    let mut tx: Option<Publisher<&Region>> = None;
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let Some(p) = tx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
            drop(tx.take());
            tx = v.call("Publisher::open_in", ZERO, || {
                Publisher::open_in(region, 0).map_err(kind_of)
            });
            continue;
        };
        let msg = &msgs[v.rng.below(msgs.len())];
        match v.rng.below(3) {
            0 => v
                .call("Publisher::publish", ZERO, || {
                    p.publish(msg).map_err(kind_of)
                })
                .map(drop),
            1 => v
                .call("Publisher::loan+commit", ZERO, || {
                    let loan = p.loan(msg.len()).map_err(kind_of)?;
                    loan.write_at(0, msg).map_err(kind_of)?;
                    Ok(loan.commit())
                })
                .map(drop),
            _ => v
                .call("Publisher::parked", ZERO, || Ok(p.parked()))
                .map(drop),
        };
        if v.reopen() {
            tx = None;
        }
    }
}

pub(crate) fn pubsub_subscriber<A: shmkit::Access>(v: &mut Victim, region: &Region<A>) {
    let mut rx: Option<Subscriber<&Region<A>, A>> = None;
    let mut buf = Vec::new();
    let mut n = 0u64;
    while !v.stopped() {
        n += 1;
        let Some(s) = rx.as_mut().filter(|_| n % REOPEN_EVERY != 0) else {
            drop(rx.take());
            let k = v.rng.below(12) as u64;
            rx = v.call("Subscriber::open_last", ZERO, || {
                Subscriber::open_last(region, 0, k).map_err(kind_of)
            });
            continue;
        };
        let t = v.timeout();
        let mode = v.wait_mode();
        // A read-only subscriber of a Wakeups::Parked channel can only poll: asking for
        // more is an Unsupported error, asked for now and then.
        let mode = if A::WRITABLE || v.rng.below(16) == 0 {
            mode
        } else {
            Wait::Poll
        };
        v.call("Subscriber::set_wait", ZERO, || {
            s.set_wait(mode).map_err(kind_of)
        });
        match v.rng.below(4) {
            0 => v
                .call("Subscriber::try_recv", ZERO, || {
                    s.try_recv(&mut buf).map_err(kind_of)
                })
                .map(drop),
            1 => v
                .call("Subscriber::recv_timeout", Some(t), || {
                    s.recv_timeout(&mut buf, t).map_err(kind_of)
                })
                .map(drop),
            2 => v
                .call("Subscriber::recv_ref_timeout+copy_into", Some(t), || {
                    let m = s.recv_ref_timeout(t).map_err(kind_of)?;
                    let mut first = [0u8; 1];
                    let _ = m.read_at(0, &mut first);
                    m.copy_into(&mut buf).map_err(kind_of)
                })
                .map(drop),
            _ => v
                .call("Subscriber::publisher_alive", ZERO, || {
                    Ok(s.publisher_alive())
                })
                .map(drop),
        };
        if v.reopen() {
            rx = None;
        }
    }
}

/// A lock call's outcome as a value: the guard (consistent or not).
pub(crate) fn guard<'a, T: shmkit::sync::ShmSafe, R: std::ops::Deref<Target = Region>>(
    r: Result<MutexGuard<'a, T, R>, LockError<'a, T, R>>,
) -> Result<MutexGuard<'a, T, R>, ErrorKind> {
    match r {
        Ok(g) => Ok(g),
        Err(LockError::OwnerDied(g)) => Ok(g),
        Err(LockError::Failed(e)) => Err(e.kind()),
    }
}

/// Uses a guard: marks it consistent if the owner died, touches the value, unlocks.
pub(crate) fn use_guard<R: std::ops::Deref<Target = Region>>(
    v: &mut Victim,
    g: MutexGuard<'_, Value, R>,
) {
    let mut g = g;
    if !g.is_consistent() {
        v.call("MutexGuard::mark_consistent", ZERO, || {
            g.mark_consistent().map_err(kind_of)
        });
    }
    g[2] = g[2].wrapping_add(1);
    v.call("MutexGuard::unlock", ZERO, move || {
        g.unlock().map_err(kind_of)
    });
}

pub(crate) fn mutex_victim(v: &mut Victim, region: &Region) {
    let mut n = 0u64;
    let mut m: Option<RobustMutex<Value, &Region>> = None;
    while !v.stopped() {
        n += 1;
        let Some(mx) = m.as_ref().filter(|_| n % REOPEN_EVERY != 0) else {
            m = v.call("RobustMutex::open_in", ZERO, || {
                RobustMutex::open_in(region, 0).map_err(kind_of)
            });
            continue;
        };
        let t = v.timeout();
        {
            let locked = match v.rng.below(3) {
                0 => v.call("RobustMutex::lock_timeout", Some(t), || {
                    guard(mx.lock_timeout(t))
                }),
                1 => v.call("RobustMutex::try_lock", ZERO, || guard(mx.try_lock())),
                _ => v.call("RobustMutex::lock", None, || guard(mx.lock())),
            };
            if let Some(g) = locked {
                use_guard(v, g);
            }
        }
        if v.reopen() && v.last != Some(ErrorKind::Busy) {
            m = None;
        }
    }
}

pub(crate) fn condvar_victim(v: &mut Victim, region: &Region) {
    let mut n = 0u64;
    type Opened<'a> = (
        RobustMutex<Value, &'a Region>,
        Condvar<&'a Region>,
        Event<&'a Region>,
    );
    let mut s: Option<Opened<'_>> = None;
    while !v.stopped() {
        n += 1;
        let Some((mx, cv, ev)) = s.as_ref().filter(|_| n % REOPEN_EVERY != 0) else {
            s = v.call("Condvar/Event::open_in", ZERO, || {
                Ok((
                    RobustMutex::open_in(region, CV_MUTEX_AT).map_err(kind_of)?,
                    Condvar::open_in(region, CV_AT).map_err(kind_of)?,
                    Event::open_in(region, EVENT_AT).map_err(kind_of)?,
                ))
            });
            continue;
        };
        let t = v.timeout();
        // Untimed waits are rare: the other victim's notifications (and the scribbler's
        // wake-ups) end them, and meanwhile they make no calls.
        match v.rng.below(8) {
            0 | 1 => {
                let untimed = v.rng.below(16) == 0;
                let Some(g) = v.call("RobustMutex::lock_timeout", Some(t), || {
                    guard(mx.lock_timeout(t))
                }) else {
                    continue;
                };
                let g = if !g.is_consistent() {
                    let mut g = g;
                    v.call("MutexGuard::mark_consistent", ZERO, || {
                        g.mark_consistent().map_err(kind_of)
                    });
                    g
                } else {
                    g
                };
                let back = if untimed {
                    v.call("Condvar::wait", None, || guard(cv.wait(g)))
                } else {
                    // Sleeping and relocking share the timeout.
                    v.call("Condvar::wait_timeout", Some(t), || {
                        guard(cv.wait_timeout(g, t).map(|(g, _)| g))
                    })
                };
                if let Some(g) = back {
                    use_guard(v, g);
                }
            }
            2 => drop(v.call("Condvar::notify_one", ZERO, || {
                cv.notify_one().map_err(kind_of)
            })),
            3 => drop(v.call("Condvar::notify_all", ZERO, || {
                cv.notify_all().map_err(kind_of)
            })),
            4 => {
                let token = ev.listen();
                v.call("Event::wait_timeout", Some(t), || {
                    ev.wait_timeout(token, t).map_err(kind_of)
                });
            }
            5 if v.rng.below(16) == 0 => {
                let token = ev.listen();
                v.call("Event::wait", None, || ev.wait(token).map_err(kind_of));
            }
            6 => drop(v.call("Event::notify_one", ZERO, || {
                ev.notify_one().map_err(kind_of)
            })),
            _ => drop(v.call("Event::notify_all", ZERO, || {
                ev.notify_all().map_err(kind_of)
            })),
        }
        if v.reopen() && !matches!(v.last, Some(ErrorKind::Busy | ErrorKind::Deadlock)) {
            s = None;
        }
    }
}

pub(crate) fn seqlock_victim(v: &mut Victim, region: &Region, writer: bool) {
    let mut n = 0u64;
    let mut s: Option<SeqLock<SeqValue, &Region>> = None;
    while !v.stopped() {
        n += 1;
        let Some(l) = s.as_ref().filter(|_| n % REOPEN_EVERY != 0) else {
            s = v.call("SeqLock::open_in", ZERO, || {
                SeqLock::open_in(region, 0).map_err(kind_of)
            });
            continue;
        };
        let t = v.timeout();
        let value = [n; 8];
        // The writer mostly writes, the reader mostly reads; both do both.
        let pick = v.rng.below(10);
        let write = if writer { pick < 7 } else { pick < 2 };
        if write {
            match v.rng.below(2) {
                0 => v.call("SeqLock::write_timeout", Some(t), || {
                    l.write_timeout(&value, t).map_err(kind_of)
                }),
                _ => v.call("SeqLock::write", None, || l.write(&value).map_err(kind_of)),
            };
        } else {
            match v.rng.below(3) {
                0 => v.call("SeqLock::read_timeout", Some(t), || {
                    l.read_timeout(t).map_err(kind_of)
                }),
                1 => v.call("SeqLock::try_read", ZERO, || l.try_read().map_err(kind_of)),
                _ => v.call("SeqLock::read", None, || l.read().map_err(kind_of)),
            };
        }
        if v.reopen()
            && !matches!(
                v.last,
                Some(ErrorKind::WriterDied | ErrorKind::Deadlock | ErrorKind::Busy)
            )
        {
            s = None;
        }
    }
}

/// A victim process: does `role`'s calls on the structure in segment `segment` (or the
/// named channel `name`), noting each on the board in `slot`; returns its report.
pub(crate) fn victim_main(
    role: Role,
    segment: ShmId,
    board: ShmId,
    slot: usize,
    seed: u64,
    name: Option<&str>,
) -> String {
    let board = Board {
        map: attach_id(board),
    };
    let seed = seed | 1;
    let name = name.unwrap_or("");
    board.set(slot, TID, u64::from(gettid()));
    board.set(slot, PID, u64::from(std::process::id()));
    let mut v = Victim {
        board,
        slot,
        rng: Rng(seed),
        bound: scaled(BOUND),
        ops: 0,
        ok: 0,
        errors: BTreeMap::new(),
        panics: Vec::new(),
        late: Vec::new(),
        worst: (Duration::ZERO, String::new()),
        untimed: (Duration::ZERO, String::new()),
        last: None,
    };
    let seg = Segment::from_id(segment).unwrap();
    let map = seg.attach().unwrap();
    let region = map.region();
    match role {
        Role::SpscSender => spsc_sender(&mut v, Duration::ZERO, &|| Sender::open_in(region, 0)),
        Role::SpscReceiver => {
            spsc_receiver(&mut v, Duration::ZERO, &|| Receiver::open_in(region, 0))
        }
        Role::MpmcProducer => mpmc_victim(&mut v, region, true, false),
        Role::MpmcConsumer => mpmc_victim(&mut v, region, false, true),
        Role::MpmcBoth => mpmc_victim(&mut v, region, true, true),
        Role::PubSubPublisher => pubsub_publisher(&mut v, region),
        Role::PubSubSubscriber => pubsub_subscriber::<ReadWrite>(&mut v, region),
        Role::PubSubReadOnly => {
            let ro = seg.attach_read_only().unwrap();
            pubsub_subscriber::<ReadOnly>(&mut v, ro.region());
        }
        // Opening by name waits up to READY_WAIT for a channel being laid out: that is
        // its timeout (open_or_create may look twice: once in create, once after).
        Role::NamedSender => spsc_sender(&mut v, 2 * NAMED_READY_WAIT, &|| {
            NamedChannel::builder(name)
                .spsc(SPSC_CAP)
                .open_or_create()?
                .into_sender()
        }),
        Role::NamedReceiver => spsc_receiver(&mut v, NAMED_READY_WAIT, &|| {
            NamedChannel::open(name)?.into_receiver()
        }),
        Role::Mutex => mutex_victim(&mut v, region),
        Role::Condvar => condvar_victim(&mut v, region),
        Role::SeqLockWriter => seqlock_victim(&mut v, region, true),
        Role::SeqLockReader => seqlock_victim(&mut v, region, false),
    }
    v.report(role.name())
}
