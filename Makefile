# Quick start: `make run` (the tutorial network: statistics and figure) and `make test`.
# Both do all set-up first (scripts/setup.sh is idempotent: a second run skips what is done).
.PHONY: setup mpi-env run test test-fast lint bench clean

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
	.venv/bin/ruff check balanced tests benchmarks
	.venv/bin/ruff format --check balanced tests benchmarks
	.venv/bin/mypy balanced

bench: setup
	.venv/bin/python benchmarks/run_all.py

clean:
	rm -rf runs .pytest_cache
