"""Back a large simulation's memory with transparent huge pages (Linux, standard library only).

Why: NEST delivers every spike to thousands of targets spread over the whole network
(N = 2e4, K = 1000: 2000 targets per spike, 1.6e9 deliveries per second of model time).
Each delivery touches the target node and its input ring buffer, at random addresses in
a heap of hundreds of megabytes. With 4 KiB pages nearly every one of those touches also
misses the TLB and walks the page tables; with 2 MiB pages the same heap needs 512 times
fewer TLB entries. Measured on the 2-core VM with the two variants taking turns
(``benchmarks/interleaved.py``, docs/performance.md): NEST's simulate time is about 19 %
shorter at N = 2e4 and 10 % at N = 1e5 (no clear gain at N = 1e4), and the spikes are
the same (only where the bytes live changes, not what they are).

Most distributions set ``/sys/kernel/mm/transparent_hugepage/enabled`` to ``madvise``:
huge pages only where a program asks for them. glibc's malloc, which allocates NEST's
nodes and connections, does not ask unless told to when the process starts. Two ways,
best first:

1. **malloc asks from the start** (:data:`MALLOC_TUNABLES`, glibc 2.35+): with
   ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1`` malloc marks its
   heap ``MADV_HUGEPAGE`` as it grows, so the network is built straight into huge pages
   and nothing has to be moved later. ``arena_max=1`` keeps every thread's allocations in
   that one heap (with NEST's default of one arena per thread, the other threads' arenas
   stay in small pages; NEST allocates connections in blocks, so the shared lock costs
   nothing measurable). glibc reads tunables only when a process starts, so
   ``balanced run`` re-executes itself once with them (:func:`environment_with_tunables`)
   when a run wants huge pages.
2. **collapse afterwards** (:func:`collapse_anonymous_memory`, Linux 6.1+): in a process
   that did not start that way (a notebook calling :func:`balanced.run.run_network`),
   after NEST has built the network and allocated its buffers, ask for huge pages
   (``MADV_HUGEPAGE``) and have the kernel move the existing pages now
   (``MADV_COLLAPSE``), costing about 1-4 s per GiB of heap on the 2-core VM.

Nothing here needs privileges or changes a system setting; where it is not possible
(another OS or C library, an older kernel, THP ``never``) it does nothing and says why.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")
THP_PMD_SIZE = Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
MADV_HUGEPAGE = 14  # <linux/mman.h>
MADV_COLLAPSE = 25  # <linux/mman.h>, Linux 6.1

HUGE_PAGE_SETTINGS = ("auto", "on", "off")
# "auto" collapses from this many synapses on this rank (about 1.5 GB of network). The
# collapse costs about 1 s per GB; at N = 1e4 (2e7 synapses) it saves about 1 s per second
# of model time at most, so it would not pay for itself there; at N = 2e4 (4e7) it saves
# 15-20 s per second of model time for 2-4 s; at 1e5, about 3 min for 2-7 s.
AUTO_MIN_SYNAPSES = 30_000_000


def thp_mode() -> str | None:
    """The kernel's transparent-huge-page mode (``always``, ``madvise``, ``never``), or None
    where the kernel has no THP (or this is not Linux)."""
    try:
        text = THP_ENABLED.read_text()
    except OSError:
        return None
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return None


def support() -> dict:
    """What this system offers, for ``balanced doctor``: the THP mode, the kernel release,
    and whether a collapse is expected to work (Linux 6.1+, mode not ``never``)."""
    import platform  # noqa: PLC0415

    mode = thp_mode()
    release = platform.release() if sys.platform.startswith("linux") else None
    try:
        major, minor = (int("".join(c for c in part if c.isdigit()) or 0) for part in release.split(".")[:2])
        new_enough = (major, minor) >= (6, 1)
    except (AttributeError, ValueError):
        new_enough = False
    return {"thp": mode, "kernel": release, "collapse": bool(mode in ("always", "madvise") and new_enough)}


# glibc tunables (read at process start) that make malloc itself ask for huge pages:
# ``hugetlb=1`` madvises the heap as it grows, ``arena_max=1`` keeps all threads in that heap.
MALLOC_TUNABLES = {"glibc.malloc.hugetlb": "1", "glibc.malloc.arena_max": "1", "glibc.malloc.tcache_count": "4096"}
GLIBC_MIN_VERSION = (2, 35)  # first glibc with glibc.malloc.hugetlb


def glibc_version() -> tuple[int, int] | None:
    """The C library's version if it is glibc (``(2, 36)``), else None (musl, macOS)."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except (AttributeError, ValueError, OSError):
        return None


def malloc_can_ask() -> bool:
    """Whether starting a process with :data:`MALLOC_TUNABLES` gives it huge pages here:
    glibc 2.35+ and THP ``madvise`` or ``always``."""
    version = glibc_version()
    return version is not None and version >= GLIBC_MIN_VERSION and thp_mode() in ("always", "madvise")


def _tunables(environ) -> dict[str, str]:
    items = (item.partition("=") for item in environ.get("GLIBC_TUNABLES", "").split(":") if item)
    return {key: value for key, _, value in items}


def malloc_asks(environ=os.environ) -> bool:
    """Whether this process started with :data:`MALLOC_TUNABLES` on a glibc that honours
    them, so its heap is already in huge pages (``environ``: the process's environment,
    which glibc read when it started)."""
    current = _tunables(environ)
    return malloc_can_ask() and all(current.get(k) == v for k, v in MALLOC_TUNABLES.items())


def environment_with_tunables(environ) -> dict[str, str]:
    """A copy of ``environ`` whose ``GLIBC_TUNABLES`` has :data:`MALLOC_TUNABLES` set and
    keeps the user's other tunables."""
    tunables = {**_tunables(environ), **MALLOC_TUNABLES}
    return {**environ, "GLIBC_TUNABLES": ":".join(f"{k}={v}" for k, v in tunables.items())}


def malloc_report() -> dict:
    """The report of a run whose malloc asked for huge pages from the start (keys as
    :func:`collapse_anonymous_memory`'s, ``method`` ``"malloc"``)."""
    huge_mib = round(_anon_huge_kib() / 1024, 1)
    report = {"applied": huge_mib > 0, "method": "malloc", "thp": thp_mode(), "huge_mib": huge_mib,
              "ranges": 0, "ranges_failed": 0, "seconds": 0.0}
    if not huge_mib:
        report["reason"] = "malloc asked, but the kernel gave no huge pages (none free?)"
    return report


def wanted(setting: str, n_synapses: int) -> bool:
    """Whether a run with ``n_synapses`` (on this rank) should collapse its memory.

    ``setting``: ``"on"``, ``"off"``, or ``"auto"`` (from :data:`AUTO_MIN_SYNAPSES` on).
    """
    if setting not in HUGE_PAGE_SETTINGS:
        raise ValueError(f"huge_pages = {setting!r}: must be one of {', '.join(HUGE_PAGE_SETTINGS)}")
    return setting == "on" or (setting == "auto" and n_synapses >= AUTO_MIN_SYNAPSES)


def _anon_huge_kib() -> int:
    """``AnonHugePages`` of this process, KiB (0 where unknown)."""
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _writable_anonymous_ranges(huge: int) -> list[tuple[int, int]]:
    """Huge-page-aligned parts of this process's private writable anonymous mappings and
    its brk heap: where malloc keeps NEST's nodes, buffers and connections. File mappings
    (libraries), the stack and shared memory are left alone."""
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        perms = fields[1]
        name = fields[5] if len(fields) > 5 else ""
        if not perms.startswith("rw") or perms[3] != "p" or name not in ("", "[heap]"):
            continue
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        lo, hi = (lo + huge - 1) & ~(huge - 1), hi & ~(huge - 1)
        if hi > lo:
            ranges.append((lo, hi - lo))
    return ranges


def collapse_anonymous_memory() -> dict:
    """Move this process's heap into transparent huge pages now; return what happened.

    Keys: ``applied`` (bool), ``method`` (``"collapse"``), ``thp`` (the kernel's mode), ``huge_mib`` (this process's
    memory in huge pages afterwards), ``ranges`` / ``ranges_failed`` (mappings asked /
    refused), ``errnos`` (why: EINVAL for thread stacks, which Linux 6.7+ keeps in small
    pages, or for every range on a kernel without MADV_COLLAPSE; EAGAIN/ENOMEM when no free
    huge page could be found), ``seconds``, and ``reason`` when nothing was done.
    Never raises: huge pages are an optimisation, never a reason for a run to fail.
    """
    mode = thp_mode()
    report: dict = {"applied": False, "method": "collapse", "thp": mode, "huge_mib": 0, "ranges": 0,
                    "ranges_failed": 0, "seconds": 0.0}
    if mode is None:  # not Linux, or a kernel without THP
        return {**report, "reason": "no transparent huge pages on this system"}
    if mode == "never":
        return {**report, "reason": "transparent huge pages are disabled (mode 'never')"}
    import ctypes  # noqa: PLC0415 (only runs that collapse need it)

    started = time.perf_counter()
    try:
        huge = int(THP_PMD_SIZE.read_text())
    except (OSError, ValueError):
        huge = 2 << 20
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the symbols already loaded: libc's madvise
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.madvise.restype = ctypes.c_int
        ranges = _writable_anonymous_ranges(huge)
    except (OSError, AttributeError) as exc:  # no /proc, no madvise symbol
        return {**report, "reason": f"cannot ask for huge pages here ({exc})"}
    failed, errnos = 0, set()
    for start, length in ranges:
        # MADV_HUGEPAGE also lets later page faults in the range get huge pages directly.
        if libc.madvise(start, length, MADV_HUGEPAGE) != 0 or libc.madvise(start, length, MADV_COLLAPSE) != 0:
            failed += 1
            errnos.add(ctypes.get_errno())
    report.update(applied=len(ranges) > failed, huge_mib=round(_anon_huge_kib() / 1024, 1),
                  ranges=len(ranges), ranges_failed=failed, errnos=sorted(errnos), seconds=round(time.perf_counter() - started, 3))
    if not report["applied"]:
        # EINVAL for every range: a kernel before 6.1 (no MADV_COLLAPSE)
        report["reason"] = f"the kernel refused every range (errno {sorted(errnos)})"
    return report
