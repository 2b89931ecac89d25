#!/usr/bin/env bash
# The test suite, with its set-up: the Python peer tests need python3 and the `sysv_ipc`
# package from PyPI, the C peer tests a C compiler. Installs what is missing, then runs
# `cargo test --workspace` (extra arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null
fi
if ! python3 -c 'import sysv_ipc' 2>/dev/null; then
  python3 -m pip install --quiet sysv-ipc
fi
exec cargo test --workspace "$@"
