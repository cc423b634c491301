#!/usr/bin/env bash
# Idempotent set-up of everything `balanced` needs on Debian 12 / Python 3.11.
#
#   scripts/setup.sh          Debian packages, .venv (pinned PyPI deps, NEST wheel), model build
#   scripts/setup.sh --mpi    the above, plus .venv-mpi: NEST 3.10 with MPI built from the PyPI
#                             sdist (cached in $BALANCED_CACHE, default ~/.cache/balanced)
#
# A second run skips what is done (stamp files hold a hash of what each step installed).
# As root it installs missing Debian packages; otherwise it stops with the apt-get line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
CACHE=${BALANCED_CACHE:-$HOME/.cache/balanced}
WANT_MPI=0
[ "${1:-}" = "--mpi" ] && WANT_MPI=1

log() { echo "setup: $*" >&2; }

# ---------------------------------------------------------------- Debian packages
DEB_PKGS="build-essential cmake libboost-dev libltdl-dev libgsl-dev openmpi-bin libopenmpi-dev slurm-wlm munge"
missing=""
for pkg in $DEB_PKGS; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing Debian packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    log "missing Debian packages:$missing"
    echo "Run:  sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' 2>/dev/null \
  || { log "$PYTHON is older than Python 3.11 (tomllib)"; exit 1; }

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- a virtual environment
# make_venv DIR STAMP PIP-ARGS...: (re)install only when the stamp changed.
make_venv() {
  local dir=$1 stamp=$2; shift 2
  if [ -f "$dir/.balanced-stamp" ] && [ "$(cat "$dir/.balanced-stamp")" = "$stamp" ] && [ -x "$dir/bin/python" ]; then
    log "$dir is up to date"
    return
  fi
  log "installing $dir"
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$ROOT"
  echo "$stamp" > "$dir/.balanced-stamp"
}

stamp=$(hash_of requirements/lock.txt requirements/nest-wheel.txt requirements/dev.txt pyproject.toml)
make_venv .venv "$stamp" -r requirements/lock.txt -r requirements/nest-wheel.txt -r requirements/dev.txt
log "building the NESTML model for the PyPI NEST"
.venv/bin/balanced build

# ---------------------------------------------------------------- MPI-enabled NEST
if [ "$WANT_MPI" = 1 ]; then
  wheel=$(scripts/build-nest-mpi.sh)
  stamp=$(echo "$(hash_of requirements/lock.txt pyproject.toml) $(basename "$(dirname "$wheel")")" | sha256sum | cut -c1-16)
  make_venv .venv-mpi "$stamp" -r requirements/lock.txt "$wheel"
  log "building the NESTML model for the MPI NEST"
  .venv-mpi/bin/balanced build
fi
log "done"
