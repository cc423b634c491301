"""Shared pieces of the benchmark scripts: network sizes, the child process, machine state.

Every measured configuration runs in a fresh child process (``children/run_cli.py``). The child
runs exactly what ``balanced run`` runs (``balanced.cli.main(["run", ...])``: build-cache
check, kernel set-up, network, chunked simulation, per-rank spike files, merge, manifest,
then the analysis with stats.json and the PNG + PDF figures), wrapped with a few probes:

* resident memory just before and after the network is built, and the peak (``VmHWM``)
  once the simulation has finished (before the analysis), read from ``/proc/self/status``;
* the phase timers of the run manifest (kernel, create_connect, simulate, write, merge);
* the NEST kernel's own timers (``time_construction_create``, ``time_construction_connect``,
  ``time_communicate_prepare``, ``time_simulate`` ...; the PyPI wheel is built without
  NEST's detailed timers, so ``time_deliver_spike_data`` and friends are absent there and
  recorded only when a NEST exposes them);
* the time of the analysis (statistics + figures) as the rest of ``balanced run``.

The parent measures the wall time of the whole child process (interpreter start to exit:
the end-to-end time of ``balanced run``); the peak RSS is the child's own ``VmHWM`` at its
end (the same number as ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` for that one child).

Network sizes: ``1e3`` is the tutorial network itself (N_E = N_I = 500, p = 0.1, K = 50,
J = 1/sqrt(50)). Larger sizes keep the tutorial form (``coupling = "tutorial"``, drive
Ib = 3 mV, same neuron) with N_E = N_I = N/2, K = 1000 inputs from each population
(p = K / N_source) and J_E = -J_I = 1/sqrt(K), as the tutorial scales J = 1/sqrt(p N).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

SIZES = {"1e3": 1_000, "1e4": 10_000, "2e4": 20_000, "1e5": 100_000}
K_LARGE = 1000
MODEL_NAMES = {"nestml": "nestml", "builtin": "iaf_psc_exp", "iaf_psc_exp": "iaf_psc_exp"}


def size_label(n: int) -> str:
    for label, value in SIZES.items():
        if value == n:
            return label
    short = f"{n:.0e}".replace("+0", "").replace("+", "")
    return short if float(short) == n else str(n)


def parse_size(text: str) -> int:
    return SIZES.get(text) or int(float(text))


def network_overrides(
    n: int, model: str, T: float = 1000.0, k: int | None = None, extra: tuple[str, ...] = ()
) -> list[str]:
    """``--set`` items for a network of ``n`` neurons (tutorial preset underneath)."""
    sets = [f"neuron_model={MODEL_NAMES.get(model, model)}", f"T={T:g}"]
    if n == 1000 and k is None:
        return sets + list(extra)  # the tutorial network itself (K = 50)
    k = k or K_LARGE
    half = n // 2
    if k > half:
        k = half
    p = k / half
    j = 1.0 / math.sqrt(k)
    sets += [f"N_E={half}", f"N_I={n - half}", f"p={p!r}", f"J_E={j!r}", f"J_I={-j!r}"]
    return sets + list(extra)


def indegree_of(n: int, k: int | None = None) -> int:
    if n == 1000 and k is None:
        return 50
    return min(k or K_LARGE, n // 2)


# --------------------------------------------------------------------------- the child
CHILD = Path(__file__).resolve().parent / "children" / "run_cli.py"


def run_child(
    python: str,
    cfg: dict,
    env: dict | None = None,
    timeout: float | None = None,
    launcher: list[str] | None = None,
    src: str | os.PathLike | None = None,
) -> dict:
    """Run one configuration in a fresh process; return its measurements (wall, RSS, timers)."""
    with tempfile.TemporaryDirectory(prefix="balanced-bench-") as tmp:
        cfg = {**cfg, "out": cfg.get("out") or str(Path(tmp) / "run"), "result": str(Path(tmp) / "result.json")}
        cmd = [*(launcher or []), python, str(CHILD), json.dumps(cfg)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(src or ROOT)
        )  # the child imports ``balanced`` from here
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            raise RuntimeError(f"benchmark child timed out after {timeout} s: {cfg}") from None
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not Path(cfg["result"]).is_file():
            raise RuntimeError(f"benchmark child failed (rc {proc.returncode}) for {cfg}:\n{stderr[-3000:]}")
        result = json.loads(Path(cfg["result"]).read_text())
        if result.get("rc"):
            raise RuntimeError(f"balanced run failed (rc {result['rc']}) for {cfg}:\n{stderr[-3000:]}")
        manifest = json.loads((Path(cfg["out"]) / "manifest.json").read_text())
        result["wall_s"] = wall
        result["manifest"] = {k: manifest[k] for k in ("timers_s", "counts", "layout", "model")}
        result["manifest"]["omp"] = manifest.get("omp")
        result["manifest"]["huge_pages"] = manifest.get("huge_pages")
        spikes = Path(cfg["out"]) / "spikes.npz"
        if cfg.get("keep_spikes"):
            import numpy as np

            with np.load(spikes) as z:
                result["spikes"] = (z["neuron"].copy(), z["time"].copy())
        return result


def summarize(n: int, model: str, threads: int, ranks: int, res: dict, k: int | None = None, T: float = 1000.0) -> dict:
    """One table row from a child's measurements."""
    m = res["manifest"]
    timers = m["timers_s"]
    n_syn = m["counts"]["synapses"]
    n_spk = m["counts"]["spikes"]
    probe = res["probe"]
    sim = timers.get("simulate", float("nan"))
    net_kb = probe.get("peak_after_sim_kb", res["peak_kb"]) - probe.get("rss_before_network_kb", 0)
    steady_kb = probe.get("rss_after_sim_kb", 0) - probe.get("rss_before_network_kb", 0)
    ranks_syn = n_syn / max(1, ranks)  # the probes see rank 0, which holds about 1/ranks of the synapses
    row = {
        "size": size_label(n),
        "N": n,
        "K": indegree_of(n, k),
        "model": model,
        "threads": threads,
        "ranks": ranks,
        "synapse_model": m["model"].get("synapse_model"),
        "huge_pages": (m.get("huge_pages") or {}).get("setting", "-"),
        "huge_mib": (m.get("huge_pages") or {}).get("huge_mib", 0),
        "synapses": n_syn,
        "spikes": n_spk,
        "import_kernel_s": round(
            probe.get("t_before_run_s", 0.0) + res["startup_s"] + timers.get("kernel", 0.0) + timers.get("build", 0.0),
            3,
        ),
        "build_s": round(timers.get("create_connect", float("nan")), 3),
        "huge_pages_s": round(timers.get("huge_pages", 0.0), 3),
        "simulate_s": round(sim, 3),
        "write_merge_s": round(timers.get("write", 0.0) + timers.get("merge", 0.0), 3),
        "analysis_s": round(res["analysis_s"], 3),
        "e2e_s": round(res["wall_s"], 3),
        "peak_rss_mb": round(res["peak_kb"] / 1024, 1),
        "bytes_per_synapse": round(net_kb * 1024 / ranks_syn, 1) if n_syn else None,
        "bytes_per_synapse_steady": round(steady_kb * 1024 / ranks_syn, 1) if n_syn else None,
        "events_per_s": round(n_spk * (n_syn / n) / sim) if sim > 0 else None,
        "rate_hz": round(n_spk / n / (T / 1000.0), 2),
    }
    nt = res.get("nest_timers") or {}
    for key in (
        "time_construction_create",
        "time_construction_connect",
        "time_communicate_prepare",
        "time_simulate",
        "time_update",
        "time_gather_spike_data",
        "time_deliver_spike_data",
        "time_collocate_spike_data",
        "time_communicate_spike_data",
    ):
        if key in nt:
            v = nt[key]
            row["nest_" + key[5:]] = round(max(v) if isinstance(v, list) else float(v), 3)
    return row


# --------------------------------------------------------------------------- machine
def machine() -> dict:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as fh:
            mem_gb = round(int(fh.readline().split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def portable_json(obj) -> str:
    """JSON of a results record with this machine's paths replaced by placeholders
    (``<repo>``, ``~``), so committed results name no machine."""
    text = json.dumps(obj, indent=1, default=str)
    for path, name in ((str(ROOT), "<repo>"), (str(Path.home()), "~")):
        text = text.replace(path, name)
    return text


def busy_cpu_percent(interval: float = 1.0) -> float:
    """CPU busy share of the whole machine over ``interval`` (from /proc/stat), before a measurement."""

    def read():
        with open("/proc/stat") as fh:
            vals = [int(x) for x in fh.readline().split()[1:]]
        idle = vals[3] + vals[4]
        return sum(vals), idle

    t1, i1 = read()
    time.sleep(interval)
    t2, i2 = read()
    return round(100.0 * (1 - (i2 - i1) / max(1, t2 - t1)), 1)


# --------------------------------------------------------------------------- tables
def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            if v != v:
                return "-"
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])
