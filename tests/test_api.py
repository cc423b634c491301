"""balanced.api.Network: the docs/api.md example runs; devices cannot change NEST's delays
by accident; calls out of order are refused; the run directory is the command line's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from balanced import rundir
from balanced.api import ApiError, Network

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
SMALL = {"N_E": 40, "N_I": 40, "T": 100.0, "neuron_model": "iaf_psc_exp", "record_n": 2}


def test_the_worked_example_runs(tmp_path, built_model):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.startswith("regime: mean-driven\n")
    assert (
        "refused: add_device(poisson_generator): delay = 1 ms would change NEST's delays (now min 0.1, max 0.1 ms)"
        in out
    )
    with_step, without = map(
        float, re.search(r"E rate 250-400 ms: ([\d.]+) Hz with the step, ([\d.]+) Hz without", out).groups()
    )
    assert with_step > without + 5
    seen, held = map(int, re.search(r"recorder saw (\d+) I spikes; the run's own file holds (\d+)", out).groups())
    assert seen == held > 0
    api = rundir.load_run(tmp_path / "runs" / "api-example")
    cli = rundir.load_run(tmp_path / "runs" / "api-cli")
    assert api.manifest["api"]["simulate_calls_ms"] == [200.0, 200.0]
    assert [d["model"] for d in api.manifest["api"]["devices"]] == ["dc_generator", "spike_recorder"]
    assert (api.path / "params.toml").read_text() == (cli.path / "params.toml").read_text()
    # the same manifest sections as the command line's, and the same graph
    assert set(cli.manifest) <= set(api.manifest)
    assert api.manifest["counts"]["synapses"] == cli.manifest["counts"]["synapses"]
    assert api.manifest["layout"] == cli.manifest["layout"]


def test_same_run_directory_as_the_command_line_without_devices(tmp_path):
    net = Network("tutorial", overrides=SMALL)
    net.create().connect()
    net.simulate(30.0).simulate(70.0)  # two calls, a chunk edge inside neither
    net.write(tmp_path / "api")
    sets = [a for k, v in SMALL.items() for a in ("--set", f"{k}={v}")]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "balanced",
            "run",
            *sets,
            "--threads",
            "1",
            "--out",
            str(tmp_path / "cli"),
            "--no-analysis",
            "--quiet",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    api, cli = rundir.load_run(tmp_path / "api"), rundir.load_run(tmp_path / "cli")
    assert len(api.spikes) > 100
    np.testing.assert_array_equal(api.spikes.neuron, cli.spikes.neuron)
    np.testing.assert_array_equal(api.spikes.time, cli.spikes.time)
    for key in rundir.STATE_FIELDS:
        np.testing.assert_array_equal(getattr(api.state, key), getattr(cli.state, key))
    assert api.manifest["params"] == cli.manifest["params"]
    neuron, t = net.spikes()
    np.testing.assert_array_equal(neuron, api.spikes.neuron)


def test_a_direct_connect_with_the_default_delay_stops_simulate():
    net = Network("tutorial", overrides=SMALL)
    net.create().connect()
    gen = net.nest.Create("poisson_generator", params={"rate": 100.0})
    net.nest.Connect(gen, net.E)  # NEST's default delay: 1 ms
    with pytest.raises(ApiError, match=r"NEST's delays changed from min 0\.1 / max 0\.1 ms to min 0\.1 / max 1 ms"):
        net.simulate(10.0)


def test_allow_delay_change_and_argument_errors():
    net = Network("tutorial", overrides=[f"{k}={v}" for k, v in SMALL.items()])
    with pytest.raises(ApiError, match=r"connect\(\): call create\(\) first"):
        net.connect()
    net.create()
    with pytest.raises(ApiError, match=r"simulate\(\): call create\(\) and connect\(\) first"):
        net.simulate(10.0)
    net.connect()
    with pytest.raises(ApiError, match=r"add_device\(to='X'\): allowed: 'E', 'I', 'all' or a NodeCollection"):
        net.add_device(net.nest.Create("dc_generator"), to="X")
    with pytest.raises(ApiError, match=r"delay = 0\.05 ms would change"):
        net.add_device(net.nest.Create("dc_generator"), syn_spec={"delay": 0.05})
    net.add_device(net.nest.Create("dc_generator"), to="I", syn_spec={"delay": 2.0}, allow_delay_change=True)
    assert net.nest.GetKernelStatus("max_delay") == pytest.approx(2.0)
    with pytest.raises(ApiError, match=r"simulate\(t_ms=0\.05\): must be a positive multiple of dt = 0\.1 ms"):
        net.simulate(0.05)
    with pytest.raises(ApiError, match=r"write\(\): nothing simulated yet"):
        net.write("unused")
    net.simulate(10.0)
    assert net.t_ms == pytest.approx(10.0)
    with pytest.raises(ApiError, match="params: give resolved params or preset/config/overrides, not both"):
        Network(params=net.params, overrides={"N_E": 10})


def test_importing_the_api_imports_no_nest():
    code = (
        "import sys, balanced.api, balanced.names, balanced.analysis.neo, balanced.analysis.export;"
        "bad = [m for m in ('nest', 'pynestml', 'mpi4py', 'pynwb', 'nixio') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _FailAt:
    """A run hook that raises at ``t_ms``: a run that fails half-way."""

    def __init__(self, t_ms: float):
        self.t_ms = t_ms

    def times(self, T_ms):
        return [self.t_ms]

    def at(self, nest, net, t_ms):
        if abs(t_ms - self.t_ms) < 1e-9:
            raise RuntimeError("a hook failed on purpose")

    def describe(self):
        return {"kind": "fail", "at_ms": self.t_ms}


def test_with_out_the_spikes_stream_into_the_staging_folder_and_a_failure_leaves_out_alone(tmp_path):
    out = tmp_path / "streamed"
    net = Network("tutorial", overrides=SMALL, threads=1, out=out)
    net.create()
    staging = tmp_path / ".streamed.staging"
    assert rundir.read_manifest(staging)["status"] == "running"  # opened before any NEST work
    net.connect().simulate(50.0)
    assert (staging / rundir.RANK_SPIKE_DIR / "rank-00000.bin").is_file()  # opened at the first chunk
    with pytest.raises(ApiError, match="go to .*streamed as the network runs"):
        net.spikes()
    net.simulate(50.0).write()
    streamed = rundir.load_run(out)
    assert streamed.manifest["status"] == "complete" and not staging.exists()

    kept = Network("tutorial", overrides=SMALL, threads=1)
    kept.create().connect().simulate(100.0)
    kept.write(tmp_path / "kept")
    np.testing.assert_array_equal(rundir.load_run(tmp_path / "kept").spikes.time, streamed.spikes.time)

    failing = Network("tutorial", overrides=SMALL, threads=1, out=out, overwrite=True)
    failing.create().connect()
    with pytest.raises(RuntimeError, match="on purpose"):
        failing.simulate(100.0, hooks=[_FailAt(40.0)])
    assert rundir.read_manifest(out)["status"] == "complete"  # the old run, untouched
    left = rundir.read_manifest(staging)
    assert left["status"] == "failed" and left["error"] == "RuntimeError: a hook failed on purpose"
    assert sorted(p.name for p in staging.iterdir() if not p.name.startswith(".")) == ["manifest.json", "params.toml"]
    with pytest.raises(ApiError, match="the run failed earlier"):
        failing.simulate(10.0)
