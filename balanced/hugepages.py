"""Back a large simulation's memory with transparent huge pages (Linux, standard library only).

Why: NEST delivers every spike to thousands of targets spread over the whole network
(N = 2e4, K = 1000: 2000 targets per spike, 1.6e9 deliveries per second of model time).
Each delivery touches the target node and its input ring buffer, at random addresses in
a heap of hundreds of megabytes. With 4 KiB pages nearly every one of those touches also
misses the TLB and walks the page tables; with 2 MiB pages the same heap needs 512 times
fewer TLB entries, so large networks simulate faster with the same spikes (only where the
bytes live changes; figures in docs/performance.md, "Huge pages").

Most distributions set ``/sys/kernel/mm/transparent_hugepage/enabled`` to ``madvise``:
huge pages only where a program asks for them. glibc's malloc, which allocates NEST's
nodes and connections, does not ask. So after NEST has built the network and allocated
its buffers, :func:`collapse_anonymous_memory` asks for them (``MADV_HUGEPAGE``) and
has the kernel move the existing pages into huge pages now (``MADV_COLLAPSE``, Linux
6.1+), costing about 0.5-2 s per GiB of heap. Nothing here needs privileges or changes a
system setting; where it is not possible (another OS, an older kernel, THP ``never``)
it does nothing and says why.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")
THP_PMD_SIZE = Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
MADV_HUGEPAGE = 14  # <linux/mman.h>
MADV_COLLAPSE = 25  # <linux/mman.h>, Linux 6.1

HUGE_PAGE_SETTINGS = ("auto", "on", "off")
# when "auto" collapses is decided in balanced.choices (expected saving against cost)


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
        major, minor = (int("".join(c for c in part if c.isdigit()) or 0) for part in (release or "").split(".")[:2])
        new_enough = (major, minor) >= (6, 1)
    except (AttributeError, ValueError):
        new_enough = False
    return {"thp": mode, "kernel": release, "collapse": bool(mode in ("always", "madvise") and new_enough)}


def anon_huge_mib() -> float:
    """This process's memory in transparent huge pages (``AnonHugePages``), MiB (0 where unknown)."""
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            if line.startswith("AnonHugePages:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


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

    Keys: ``applied`` (bool), ``thp`` (the kernel's mode), ``huge_mib`` (this process's
    memory in huge pages afterwards), ``ranges`` / ``ranges_failed`` (mappings asked /
    refused), ``errnos`` (why: EINVAL for thread stacks, which Linux 6.7+ keeps in small
    pages, or for every range on a kernel without MADV_COLLAPSE; EAGAIN/ENOMEM when no free
    huge page could be found), ``seconds``, and ``reason`` when nothing was done.
    Never raises: huge pages are an optimisation, never a reason for a run to fail.
    """
    mode = thp_mode()
    report: dict = {"applied": False, "thp": mode, "huge_mib": 0, "ranges": 0, "ranges_failed": 0, "seconds": 0.0}
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
    report.update(
        applied=len(ranges) > failed,
        huge_mib=anon_huge_mib(),
        ranges=len(ranges),
        ranges_failed=failed,
        errnos=sorted(errnos),
        seconds=round(time.perf_counter() - started, 3),
    )
    if not report["applied"]:
        # EINVAL for every range: a kernel before 6.1 (no MADV_COLLAPSE)
        report["reason"] = f"the kernel refused every range (errno {sorted(errnos)})"
    return report
