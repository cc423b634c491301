"""Transparent huge pages (balanced.hugepages): the kernel's mode, and the
collapse itself in this very process (real madvise calls, no mocks)."""

import platform
import sys

import numpy as np

from balanced import hugepages as H


def test_thp_mode_reads_the_bracketed_word(tmp_path, monkeypatch):
    f = tmp_path / "enabled"
    f.write_text("always [madvise] never\n")
    monkeypatch.setattr(H, "THP_ENABLED", f)
    assert H.thp_mode() == "madvise"
    monkeypatch.setattr(H, "THP_ENABLED", tmp_path / "missing")
    assert H.thp_mode() is None
    report = H.collapse_anonymous_memory()
    assert not report["applied"] and "no transparent huge pages" in report["reason"]


def test_thp_never_is_reported_not_raised(tmp_path, monkeypatch):
    f = tmp_path / "enabled"
    f.write_text("always madvise [never]\n")
    monkeypatch.setattr(H, "THP_ENABLED", f)
    report = H.collapse_anonymous_memory()
    assert not report["applied"] and "'never'" in report["reason"]


def test_ranges_are_aligned_private_anonymous_memory():
    huge = 2 << 20
    block = np.ones(8 * huge // 8)  # 16 MiB of anonymous memory, surely one range
    ranges = H._writable_anonymous_ranges(huge)
    assert ranges and all(start % huge == 0 and length % huge == 0 and length > 0 for start, length in ranges)
    addr = block.ctypes.data
    assert any(start <= addr + huge < start + length for start, length in ranges)


def _kernel_version() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def test_collapse_moves_this_process_into_huge_pages():
    # Linux >= 6.1 with THP 'madvise' or 'always' (the CI machine) must collapse;
    # elsewhere the report must say why not.
    block = np.ones(64 * (1 << 20) // 8)  # 64 MiB, touched
    report = H.collapse_anonymous_memory()
    block.sum()
    capable = sys.platform.startswith("linux") and H.thp_mode() in ("madvise", "always") and _kernel_version() >= (6, 1)
    if capable:
        assert report["applied"], report
        assert report["huge_mib"] >= 32, report
        assert report["ranges_failed"] < report["ranges"]
    else:
        assert not report["applied"] and report["reason"]
