#!/usr/bin/env bash
# The peers' virtual environments for benchmarks/peers/compare.py (`make bench-peers`):
#
#   .venv-peers-pynest    Python 3.11, the project's NEST wheel (plain PyNEST)
#   .venv-peers-brian2    Python 3.11, Brian2 2.9 (numpy < 2.4)
#   .venv-peers-brainpy   Python >= 3.12 (BrainPy 2.9 needs it), BrainPy, JAX CPU, numba
#
# Pinned by benchmarks/peers/requirements-*.txt. Idempotent: each folder keeps a stamp
# (hash of its requirements and its Python's version) and is skipped while it matches.
# PYTHON (default python3) makes the 3.11 environments; PYTHON312 (default python3.12)
# the BrainPy one; if python3.12 does not run (a pyenv shim without that version
# selected), the oldest pyenv-managed Python >= 3.12 is used.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
PYTHON312=${PYTHON312:-python3.12}
REQ=benchmarks/peers

log() { echo "bench-peers: $*" >&2; }

is_312() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }

find_312() {
  if is_312 "$PYTHON312"; then
    command -v "$PYTHON312" || echo "$PYTHON312"
    return
  fi
  # only the default name falls back: a PYTHON312 given by hand that does not run is an error
  if [ "$PYTHON312" = python3.12 ] && command -v pyenv >/dev/null 2>&1; then
    local v
    for v in $(pyenv versions --bare 2>/dev/null | sort -V); do  # the oldest >= 3.12: the pins' Python
      local py
      py=$(PYENV_VERSION=$v pyenv which python 2>/dev/null) || continue
      if is_312 "$py"; then echo "$py"; return; fi
    done
  fi
  return 1
}

# make_venv DIR PYTHON REQUIREMENTS
make_venv() {
  local dir=$1 py=$2 req=$3 stamp
  stamp="$(cat "$req" | sha256sum | cut -c1-16) $("$py" -c 'import platform; print(platform.python_version())')"
  if [ -f "$dir/.peers-stamp" ] && [ "$(cat "$dir/.peers-stamp")" = "$stamp" ] && [ -x "$dir/bin/python" ]; then
    log "$dir is up to date"
    return
  fi
  log "installing $dir ($req)"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$stamp" > "$dir/.peers-stamp"
}

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || { log "PYTHON=$PYTHON is not a working Python >= 3.11"; exit 2; }
py312=$(find_312) || {
  log "PYTHON312=$PYTHON312: not a working Python >= 3.12 (BrainPy 2.9 needs one); run make bench-peers PYTHON312=/path/to/python3.12"
  exit 2
}

make_venv .venv-peers-pynest "$PYTHON" "$REQ/requirements-pynest.txt"
make_venv .venv-peers-brian2 "$PYTHON" "$REQ/requirements-brian2.txt"
make_venv .venv-peers-brainpy "$py312" "$REQ/requirements-brainpy.txt"
log "ready: .venv/bin/python benchmarks/peers/compare.py --sizes 1e3,1e4 --repeats 2"
