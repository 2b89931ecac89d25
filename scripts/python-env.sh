#!/usr/bin/env bash
# The Python interpreter for the tests' Python peers, with the `sysv_ipc` package: prints
# its path on standard output (what it does goes to standard error). `scripts/test.sh`
# runs it and hands the path to the tests as SHMKIT_PYTHON.
#
# Nothing is installed into the system's Python: Debian 12 and every other system that
# follows PEP 668 refuse `pip install` there (error: externally-managed-environment).
# Instead:
#   1. A virtual environment under target/ (SHMKIT_PYENV, default target/pyenv) made by
#      the python3 first on PATH, with PyPI's sysv_ipc installed by its own pip. When it
#      already imports sysv_ipc, nothing else is done (the usual case, a fraction of a
#      second). When Python's venv or ensurepip module is missing (Debian ships them
#      apart, in python3-venv), they are installed with apt-get first, as root.
#   2. If PyPI cannot be reached: the distribution's package (python3-sysv-ipc, through
#      apt-get, as root) and an environment that sees the system's packages.
# A fresh Debian machine without Python gets python3 and python3-venv (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SHMKIT_PYENV:-target/pyenv}
case $venv in
  /*) ;;
  *) venv=$PWD/$venv ;;
esac
py=$venv/bin/python3

say() { echo "python-env: $*" >&2; }
has_sysv_ipc() { "$1" -c 'import sysv_ipc' >/dev/null 2>&1; }
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {
  say "apt-get install $*"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if has_sysv_ipc "$py"; then
  echo "$py"
  exit 0
fi

if ! command -v python3 >/dev/null 2>&1; then
  can_apt || { say "python3 is missing: install Python 3"; exit 1; }
  apt_install python3 python3-venv
fi
# The interpreter itself, not a version manager's shim: the environment links to it.
base=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
if ! "$base" -c 'import venv, ensurepip' >/dev/null 2>&1 && can_apt; then
  apt_install python3-venv || true
fi

rm -rf "$venv"
say "creating $venv (from $base) and installing sysv_ipc from PyPI"
if "$base" -m venv "$venv" >&2 &&
  "$py" -m pip install --quiet --disable-pip-version-check --timeout 30 --retries 2 sysv-ipc >&2; then
  :
elif can_apt && [ -x /usr/bin/python3 ]; then
  say "PyPI's sysv_ipc failed: falling back to the distribution's python3-sysv-ipc"
  apt_install python3-sysv-ipc python3-venv || true
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages --without-pip "$venv" >&2 || true
fi

if ! has_sysv_ipc "$py"; then
  say "could not make $venv with sysv_ipc: needed are python3 with its venv module" \
    "(Debian: apt-get install python3-venv) and PyPI, or Debian's python3-sysv-ipc"
  exit 1
fi
say "$py has sysv_ipc $("$py" -c 'import sysv_ipc; print(sysv_ipc.VERSION)')"
echo "$py"
