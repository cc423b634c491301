"""One BLAS thread for the package's processes, unless the user chose a count.

The OpenBLAS in NumPy's wheels starts a thread per core when NumPy is imported, and those
threads spin while they wait (docs/performance.md): next to NEST's threads, next to other
points of a sweep or one team per MPI rank, their spinning costs more CPU than the little
linear algebra the package does (the correlation coefficients). Every process the package
starts or runs in gets its environment from here: the ``balanced`` command itself
(:func:`single_thread_blas`, before NumPy loads), the sweep's point processes and the
analysis worker (:func:`one_thread_env`).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread_env(env: MutableMapping[str, str] | None = None, also: tuple[str, ...] = ()) -> MutableMapping[str, str]:
    """``env`` (default: a copy of this process's environment) with ``1`` for every BLAS
    thread variable, and for the variables in ``also``, that it does not set; returned."""
    env = dict(os.environ) if env is None else env
    for var in (*BLAS_THREAD_VARIABLES, *also):
        env.setdefault(var, "1")
    return env


def single_thread_blas() -> None:
    """One BLAS thread in this process unless the user chose a count; call before NumPy is
    imported (OpenBLAS reads the variable when it loads)."""
    one_thread_env(os.environ)
