#!/usr/bin/env bash
# The test suite, with its set-up: the C peer tests need a C compiler (installed with
# apt-get when missing), the Python peer tests python3 with the `sysv_ipc` package, which
# scripts/python-env.sh provides in a virtual environment under target/pyenv (never in the
# system's Python, which Debian 12 protects from pip). Then runs `cargo test --workspace`
# (extra arguments are passed on) with that interpreter as SHMKIT_PYTHON and first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null
fi
python=$(scripts/python-env.sh)
export SHMKIT_PYTHON=$python
PATH="$(dirname "$python"):$PATH"
export PATH
exec cargo test --workspace "$@"
