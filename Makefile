# Quick start: `make run` (the tutorial network: statistics and figure) and `make test`.
# Both do all set-up first (scripts/setup.sh is idempotent: a second run skips what is done).
.PHONY: setup mpi-env run test bench clean

setup:
	scripts/setup.sh

mpi-env:
	scripts/setup.sh --mpi

run: setup
	.venv/bin/balanced run --preset tutorial --out runs/tutorial --overwrite

test: mpi-env
	.venv/bin/python -m pytest

bench: setup
	.venv/bin/python benchmarks/run_all.py

clean:
	rm -rf runs .pytest_cache
