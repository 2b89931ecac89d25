#!/usr/bin/env python3
"""Module dependency cycles in a crate's source tree.

Usage: scripts/modcycles.py [--edges] [--tests] SRC_DIR [SRC_DIR ...]
       e.g. scripts/modcycles.py shmkit/src shmkit-cli/src

For every module M of the crate (the crate root included), the children of M are compared with
each other, and M's own code counts as one more node ("M itself"). A file refers to a module when
its code names a path into it (`use crate::a::b`, `super::x::Y`, `self::x`, a child's name, or an
inline `crate::a::b::f()`). A reference is attributed to the child of M that contains the referring
file and to the child of M that contains the target. A strongly connected set of two or more such
children is a cycle, printed one per line:

    cycle in crate::channel: mpmc -> spsc -> mpmc   (mpmc/mod.rs:121 pub use super::spsc::...)

Not counted, because they are how a façade works, not a dependency of its code:
- `mod x;` declarations;
- `pub use` / `pub(crate) use` re-exports in a parent of the re-exported module (a façade
  re-exporting a child);
- code under `#[cfg(test)]` (unit tests), unless --tests is given.

Exit status: 0 when no cycle was found, 1 otherwise (so CI can run it).
"""

import os
import re
import sys
from collections import defaultdict

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_files(src):
    """Map module path tuple -> file path, for a crate rooted at src/lib.rs or src/main.rs."""
    mods = {}
    root = None
    for name in ("lib.rs", "main.rs"):
        if os.path.exists(os.path.join(src, name)):
            root = os.path.join(src, name)
            break
    if root is None:
        sys.exit(f"{src}: no lib.rs or main.rs")

    def walk(path, modpath, dirpath):
        mods[modpath] = path
        text = strip(open(path, encoding="utf-8").read(), keep_tests=True)
        for m in re.finditer(r"(?m)^\s*(#\[[^\]]*\]\s*)*(pub(\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", text):
            attrs = m.group(1) or ""
            child = m.group(4)
            if "cfg(test)" in attrs and not INCLUDE_TESTS:
                continue
            for cand in (os.path.join(dirpath, child + ".rs"), os.path.join(dirpath, child, "mod.rs")):
                if os.path.exists(cand):
                    sub = os.path.join(dirpath, child)
                    walk(cand, modpath + (child,), sub)
                    break

    walk(root, (), src)
    return mods


def strip(text, keep_tests=False):
    """Remove comments and string literals; remove #[cfg(test)] items unless keep_tests."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            out.append('""')
            i = n if j < 0 else j + len(end)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\", i):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    text = "".join(out)
    if not keep_tests and not INCLUDE_TESTS:
        text = remove_cfg_test(text)
    return text


def remove_cfg_test(text):
    """Blank out items annotated #[cfg(test)] (a `mod tests { ... }` or a single item)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]", text)
        if not m:
            return text
        start = m.start()
        i = m.end()
        # the item runs to its matching closing brace, or to the first `;` before any `{`
        depth = 0
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    i += 1
                    break
            elif text[i] == ";" and depth == 0:
                i += 1
                break
            i += 1
        blank = re.sub(r"[^\n]", " ", text[start:i])
        text = text[:start] + blank + text[i:]


def expand_use(tree):
    """Expand a use tree `a::{b, c::{d, e}}` into paths [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    tree = re.sub(r"\bas\b.*?(?=[,}]|$)", "", tree)

    def parse(s, i, prefix):
        paths, cur = [], ""
        while i < len(s):
            c = s[i]
            if c == "{":
                sub, i = parse(s, i + 1, prefix + cur)
                paths.extend(sub)
                cur = None
            elif c == "}":
                if cur:
                    paths.append(prefix + cur)
                return paths, i + 1
            elif c == ",":
                if cur:
                    paths.append(prefix + cur)
                cur = ""
                i += 1
                continue
            else:
                if cur is None:
                    cur = ""
                cur += c
                i += 1
                continue
            if i < len(s) and s[i] == ",":
                i += 1
            cur = ""
        if cur:
            paths.append(prefix + cur)
        return paths, i

    return [p.replace("::self", "") for p in parse(tree, 0, "")[0]]


def references(text):
    """Yield (line, path, is_reexport) for every path in `use` items and inline paths."""
    for m in re.finditer(r"(?s)(\bpub(\([^)]*\))?\s+)?\buse\s+([^;]+);", text):
        line = text.count("\n", 0, m.start()) + 1
        reexport = m.group(1) is not None
        for p in expand_use(m.group(3)):
            yield line, p, reexport
    # inline paths outside `use` items
    no_use = re.sub(r"(?s)\buse\s+[^;]+;", lambda mm: re.sub(r"[^\n]", " ", mm.group(0)), text)
    for m in re.finditer(r"\b((?:crate|super|self)(?:::" + IDENT + r")+)", no_use):
        line = no_use.count("\n", 0, m.start()) + 1
        yield line, m.group(1), False
    for m in re.finditer(r"(?<![:\w])(" + IDENT + r"(?:::" + IDENT + r")+)", no_use):
        yield no_use.count("\n", 0, m.start()) + 1, m.group(1), False


def resolve(path, here, mods):
    """Resolve a path written in module `here` to the deepest known module it names."""
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] == "super":
        base, rest = here, parts
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif parts[0] == "self":
        base, rest = here, parts[1:]
    elif here + (parts[0],) in mods:
        base, rest = here, parts
    elif (parts[0],) in mods and here == ():
        base, rest = (), parts
    else:
        return None
    target = base
    for p in rest:
        if target + (p,) in mods:
            target = target + (p,)
        else:
            break
    return target


def analyse(src):
    mods = module_files(src)
    edges = defaultdict(list)  # (parent, from_child, to_child) -> [evidence]
    for here, path in mods.items():
        text = strip(open(path, encoding="utf-8").read())
        for line, ref, reexport in references(text):
            target = resolve(ref, here, mods)
            if target is None or target == here:
                continue
            # the deepest common ancestor and the two children of it that hold each end
            k = 0
            while k < min(len(here), len(target)) and here[k] == target[k]:
                k += 1
            parent = here[:k]
            src_child = here[k] if k < len(here) else "<self>"
            dst_child = target[k] if k < len(target) else "<self>"
            if src_child == dst_child:
                continue
            if reexport and src_child == "<self>":
                continue  # a façade re-exporting its child
            rel = os.path.relpath(path, src)
            edges[(parent, src_child, dst_child)].append(f"{rel}:{line} {ref}")
    return mods, edges


def sccs(nodes, adj):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main(argv):
    global INCLUDE_TESTS
    show_edges = "--edges" in argv
    INCLUDE_TESTS = "--tests" in argv
    dirs = [a for a in argv if not a.startswith("--")]
    found = 0
    for src in dirs:
        mods, edges = analyse(src)
        crate = os.path.basename(os.path.dirname(os.path.abspath(src)))
        by_parent = defaultdict(lambda: defaultdict(set))
        for (parent, a, b) in edges:
            by_parent[parent][a].add(b)
        if show_edges:
            for (parent, a, b), ev in sorted(edges.items()):
                name = "::".join(("crate",) + parent)
                print(f"{crate}: {name}: {a} -> {b}   ({ev[0]}{' +%d' % (len(ev) - 1) if len(ev) > 1 else ''})")
        for parent, adj in sorted(by_parent.items()):
            nodes = set(adj) | {b for bs in adj.values() for b in bs}
            for comp in sccs(nodes, adj):
                if len(comp) < 2:
                    continue
                found += 1
                comp = sorted(comp)
                name = "::".join(("crate",) + parent)
                print(f"{crate}: cycle in {name}: {{{', '.join(comp)}}}")
                for a in comp:
                    for b in sorted(adj.get(a, ())):
                        if b in comp:
                            ev = edges[(parent, a, b)]
                            print(f"    {a} -> {b}: {ev[0]}" + (f" (+{len(ev) - 1} more)" if len(ev) > 1 else ""))
        print(f"{crate}: {len(mods)} modules checked", file=sys.stderr)
    print(f"{found} cycle(s)", file=sys.stderr)
    return 1 if found else 0


INCLUDE_TESTS = False

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
