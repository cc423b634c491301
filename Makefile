# Quick start: `make run` (the tutorial network: statistics and figure) and `make test`.
# Both do all set-up first (scripts/setup.sh is idempotent: a second run skips what is done).
.PHONY: setup mpi-env run test test-fast lint bench bench-peers clean

setup:
	scripts/setup.sh

mpi-env:
	scripts/setup.sh --mpi

run: setup
	.venv/bin/balanced run --preset tutorial --out runs/tutorial --overwrite

# every tier: pure, analysis, nestml, nest, mpi, slurm, slow (none skipped)
test: mpi-env
	.venv/bin/python -m pytest

# the tiers without NEST (seconds)
test-fast: setup
	.venv/bin/python -m pytest -m "pure or analysis"

lint: setup
	.venv/bin/ruff check balanced tests benchmarks analysis
	.venv/bin/ruff format --check balanced tests benchmarks analysis
	.venv/bin/mypy balanced

bench: setup
	.venv/bin/python benchmarks/run_all.py

# the peers' environments (PyNEST, Brian2, BrainPy; BrainPy needs a Python >= 3.12), then
# .venv/bin/python benchmarks/peers/compare.py (benchmarks/peers/README.md)
PYTHON312 ?= python3.12
bench-peers: setup
	PYTHON312=$(PYTHON312) benchmarks/peers/setup.sh

clean:
	rm -rf runs .pytest_cache
