#!/usr/bin/env bash
# Build NEST 3.10.0 with MPI from the PyPI sdist into a wheel, once; print the wheel's path.
#
# Cached in $BALANCED_CACHE/wheels/nest-mpi-<hash>/ (default ~/.cache/balanced), keyed by
# the version and the CMake options. A reduced model set (what balanced and its tests use)
# builds in about 5 minutes on 2 cores; the full set takes much longer.
set -euo pipefail
CACHE=${BALANCED_CACHE:-$HOME/.cache/balanced}
PYTHON=${PYTHON:-python3}
NEST_VERSION=3.10.0
MODELS="iaf_psc_exp;spike_recorder;multimeter;poisson_generator;dc_generator;spike_generator;static_synapse;static_synapse_hom_w;parrot_neuron"
CMAKE_OPTS="-Dwith-mpi=ON -Dwith-models=$MODELS"
key=$(echo "$NEST_VERSION $CMAKE_OPTS $("$PYTHON" -c 'import sys; print(sys.version_info[:2])')" | sha256sum | cut -c1-16)
dir="$CACHE/wheels/nest-mpi-$key"
wheel=$(ls "$dir"/nest_simulator-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  echo "build-nest-mpi: building NEST $NEST_VERSION with MPI from the PyPI sdist (about 5 minutes)" >&2
  mkdir -p "$CACHE/wheels"
  tmp=$(mktemp -d "$CACHE/wheels/.build-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  "$PYTHON" -m venv "$tmp/venv"
  "$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  # scikit-build-core reads CMAKE_ARGS (pip's -C cmake.define.* cannot carry the ';' list).
  CMAKE_ARGS="$CMAKE_OPTS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "$tmp/venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps \
      --no-binary nest-simulator -w "$tmp/out" "nest-simulator==$NEST_VERSION" >&2
  mkdir -p "$tmp/final"
  mv "$tmp"/out/nest_simulator-*.whl "$tmp/final/"
  rm -rf "$dir"
  mv "$tmp/final" "$dir"   # atomic: a half-built wheel never sits in the cache
  wheel=$(ls "$dir"/nest_simulator-*.whl | head -1)
fi
echo "$wheel"
