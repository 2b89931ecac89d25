//! glibc's `getopt_long` in GNU mode, reproduced: permutation of operands, `--`, clustered
//! short options, attached or separate arguments, optional arguments only when attached,
//! unique-prefix abbreviations of long options, and glibc's diagnostics word for word
//! (each prefixed with `argv[0]` verbatim, as glibc does).

/// Whether an option takes an argument (`no_argument`, `required_argument`,
/// `optional_argument`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HasArg {
    /// The option takes no argument.
    No,
    /// The option needs an argument: attached or the next word.
    Required,
    /// The option may have an argument, attached only (`-ashm`, `--all=shm`).
    Optional,
}

/// One entry of the long-option table (`struct option`); the table's order matters for
/// the ambiguity message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LongOpt {
    /// The name, without `--`.
    pub(crate) name: &'static str,
    /// Whether it takes an argument.
    pub(crate) has_arg: HasArg,
    /// What `getopt_long` returns for it: a short option's character, or a number above
    /// 255 for long-only options.
    pub(crate) val: i32,
}

impl LongOpt {
    /// An entry of a long-option table (a `const fn`, for the tools' constant tables).
    pub(crate) const fn new(name: &'static str, has_arg: HasArg, val: i32) -> LongOpt {
        LongOpt { name, has_arg, val }
    }
}

/// What one step of parsing gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// An option (its `val`) and its argument.
    Opt(i32, Option<String>),
    /// A diagnostic line (without the newline) that glibc prints to stderr; the tools then
    /// print the "Try …" hint and exit 1.
    Error(String),
}

/// The parser: call [`Getopt::next_item`] until it returns `None`, then take the
/// operands with [`Getopt::operands`].
#[derive(Debug)]
pub(crate) struct Getopt<'a> {
    argv0: String,
    args: Vec<String>,
    short: &'a str,
    long: &'a [LongOpt],
    /// Index of the next word to look at.
    next: usize,
    /// The rest of a cluster of short options being parsed (`-abc` after `a`).
    cluster: Option<(usize, usize)>,
    operands: Vec<String>,
    done: bool,
}

impl<'a> Getopt<'a> {
    /// A parser over `args` (with `args[0]` the program name as invoked).
    pub(crate) fn new(args: Vec<String>, short: &'a str, long: &'a [LongOpt]) -> Getopt<'a> {
        let argv0 = args.first().cloned().unwrap_or_default();
        Getopt {
            argv0,
            args,
            short,
            long,
            next: 1,
            cluster: None,
            operands: Vec::new(),
            done: false,
        }
    }

    /// The non-option words, in order (meaningful once parsing is done).
    pub(crate) fn operands(&self) -> &[String] {
        &self.operands
    }

    fn short_spec(&self, c: char) -> Option<HasArg> {
        if c == ':' || c == ';' {
            return None;
        }
        for (i, ch) in self.short.char_indices() {
            if ch == ':' {
                continue;
            }
            if ch == c {
                let rest = &self.short[i + ch.len_utf8()..];
                return Some(if rest.starts_with("::") {
                    HasArg::Optional
                } else if rest.starts_with(':') {
                    HasArg::Required
                } else {
                    HasArg::No
                });
            }
        }
        None
    }

    /// The next option, or `None` when all options are parsed.
    pub(crate) fn next_item(&mut self) -> Option<Item> {
        if let Some((word, pos)) = self.cluster.take() {
            return Some(self.short_option(word, pos));
        }
        loop {
            if self.done || self.next >= self.args.len() {
                self.done = true;
                return None;
            }
            let word = self.args[self.next].clone();
            if word == "--" {
                self.next += 1;
                self.operands.extend(self.args[self.next..].iter().cloned());
                self.next = self.args.len();
                self.done = true;
                return None;
            }
            if let Some(body) = word.strip_prefix("--") {
                self.next += 1;
                return Some(self.long_option(body));
            }
            if word.len() > 1 && word.starts_with('-') {
                let idx = self.next;
                self.next += 1;
                return Some(self.short_option(idx, 1));
            }
            // An operand (including "-"): set aside, keep looking for options.
            self.operands.push(word);
            self.next += 1;
        }
    }

    /// Parses the short option at byte `pos` of word `idx`.
    fn short_option(&mut self, idx: usize, pos: usize) -> Item {
        let word = self.args[idx].clone();
        let c = word[pos..].chars().next().expect("pos is inside the word");
        let after = pos + c.len_utf8();
        let rest = &word[after..];
        let more = !rest.is_empty();
        match self.short_spec(c) {
            None => {
                if more {
                    self.cluster = Some((idx, after));
                }
                Item::Error(format!("{}: invalid option -- '{c}'", self.argv0))
            }
            Some(HasArg::No) => {
                if more {
                    self.cluster = Some((idx, after));
                }
                Item::Opt(c as i32, None)
            }
            Some(HasArg::Optional) => Item::Opt(c as i32, more.then(|| rest.to_owned())),
            Some(HasArg::Required) => {
                if more {
                    Item::Opt(c as i32, Some(rest.to_owned()))
                } else if self.next < self.args.len() {
                    let arg = self.args[self.next].clone();
                    self.next += 1;
                    Item::Opt(c as i32, Some(arg))
                } else {
                    Item::Error(format!(
                        "{}: option requires an argument -- '{c}'",
                        self.argv0
                    ))
                }
            }
        }
    }

    /// Parses `--body` (body without the dashes).
    fn long_option(&mut self, body: &str) -> Item {
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let found = match self.long.iter().position(|o| o.name == name) {
            Some(i) => i,
            None => {
                let mut first: Option<usize> = None;
                let mut ambiguous = vec![false; self.long.len()];
                let mut any_ambiguous = false;
                for (i, o) in self.long.iter().enumerate() {
                    if !o.name.starts_with(name) {
                        continue;
                    }
                    match first {
                        None => first = Some(i),
                        Some(f) => {
                            let p = &self.long[f];
                            if p.has_arg != o.has_arg || p.val != o.val {
                                ambiguous[f] = true;
                                ambiguous[i] = true;
                                any_ambiguous = true;
                            }
                        }
                    }
                }
                if any_ambiguous {
                    let mut msg = format!(
                        "{}: option '--{body}' is ambiguous; possibilities:",
                        self.argv0
                    );
                    for (o, _) in self.long.iter().zip(&ambiguous).filter(|(_, &a)| a) {
                        msg.push_str(&format!(" '--{}'", o.name));
                    }
                    return Item::Error(msg);
                }
                match first {
                    Some(i) => i,
                    None => {
                        return Item::Error(format!(
                            "{}: unrecognized option '--{body}'",
                            self.argv0
                        ))
                    }
                }
            }
        };
        let opt = self.long[found];
        match (opt.has_arg, value) {
            (HasArg::No, Some(_)) => Item::Error(format!(
                "{}: option '--{}' doesn't allow an argument",
                self.argv0, opt.name
            )),
            (HasArg::No, None) => Item::Opt(opt.val, None),
            (HasArg::Optional, value) => Item::Opt(opt.val, value),
            (HasArg::Required, Some(v)) => Item::Opt(opt.val, Some(v)),
            (HasArg::Required, None) => {
                if self.next < self.args.len() {
                    let arg = self.args[self.next].clone();
                    self.next += 1;
                    Item::Opt(opt.val, Some(arg))
                } else {
                    Item::Error(format!(
                        "{}: option '--{}' requires an argument",
                        self.argv0, opt.name
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &[LongOpt] = &[
        LongOpt {
            name: "id",
            has_arg: HasArg::Required,
            val: 'i' as i32,
        },
        LongOpt {
            name: "shmems",
            has_arg: HasArg::No,
            val: 'm' as i32,
        },
        LongOpt {
            name: "semaphores",
            has_arg: HasArg::No,
            val: 's' as i32,
        },
        LongOpt {
            name: "summary",
            has_arg: HasArg::No,
            val: 'u' as i32,
        },
        LongOpt {
            name: "human",
            has_arg: HasArg::No,
            val: 300,
        },
        LongOpt {
            name: "all",
            has_arg: HasArg::Optional,
            val: 'a' as i32,
        },
        LongOpt {
            name: "time",
            has_arg: HasArg::No,
            val: 't' as i32,
        },
        LongOpt {
            name: "time-format",
            has_arg: HasArg::Required,
            val: 301,
        },
    ];

    fn run(words: &[&str]) -> (Vec<Item>, Vec<String>) {
        let args: Vec<String> = std::iter::once("prog")
            .chain(words.iter().copied())
            .map(String::from)
            .collect();
        let mut g = Getopt::new(args, "i:msua::th", LONG);
        let mut items = Vec::new();
        while let Some(item) = g.next_item() {
            items.push(item);
        }
        (items, g.operands().to_vec())
    }

    fn opt(c: char, arg: Option<&str>) -> Item {
        Item::Opt(c as i32, arg.map(String::from))
    }

    #[test]
    fn short_options_cluster_and_take_arguments() {
        let (items, ops) = run(&["-mi5", "x", "-i", "-3", "-s"]);
        assert_eq!(
            items,
            vec![
                opt('m', None),
                opt('i', Some("5")),
                opt('i', Some("-3")),
                opt('s', None)
            ]
        );
        assert_eq!(ops, vec!["x"]);
    }

    #[test]
    fn optional_arguments_must_be_attached() {
        let (items, ops) = run(&["-a", "shm", "-ashm", "--all=msg", "--all"]);
        assert_eq!(
            items,
            vec![
                opt('a', None),
                opt('a', Some("shm")),
                opt('a', Some("msg")),
                opt('a', None)
            ]
        );
        assert_eq!(ops, vec!["shm"]);
    }

    #[test]
    fn long_options_abbreviate_and_exact_matches_win() {
        let (items, _) = run(&["--sh", "--time", "--time-f=x", "--id", "7", "--i=8"]);
        assert_eq!(
            items,
            vec![
                opt('m', None),
                opt('t', None),
                Item::Opt(301, Some("x".into())),
                opt('i', Some("7")),
                opt('i', Some("8"))
            ]
        );
    }

    #[test]
    fn diagnostics_are_glibcs() {
        let err = |w: &[&str]| match run(w).0.into_iter().find(|i| matches!(i, Item::Error(_))) {
            Some(Item::Error(e)) => e,
            _ => panic!("no error for {w:?}"),
        };
        assert_eq!(err(&["-Z"]), "prog: invalid option -- 'Z'");
        assert_eq!(err(&["-i"]), "prog: option requires an argument -- 'i'");
        assert_eq!(err(&["--foo=bar"]), "prog: unrecognized option '--foo=bar'");
        assert_eq!(
            err(&["--human=1"]),
            "prog: option '--human' doesn't allow an argument"
        );
        assert_eq!(
            err(&["--hu=1"]),
            "prog: option '--human' doesn't allow an argument"
        );
        assert_eq!(err(&["--id"]), "prog: option '--id' requires an argument");
        assert_eq!(
            err(&["--s"]),
            "prog: option '--s' is ambiguous; possibilities: '--shmems' '--semaphores' '--summary'"
        );
    }

    #[test]
    fn double_dash_ends_options_and_dash_is_an_operand() {
        let (items, ops) = run(&["a", "-", "-m", "--", "-s", "b"]);
        assert_eq!(items, vec![opt('m', None)]);
        assert_eq!(ops, vec!["a", "-", "-s", "b"]);
    }
}
