"""Fault injection on the command line: every case ends with a clear one-line message, the
conventional exit status, no traceback, and nothing on disk that is not the run's own.

Cases follow the reliability issue's list: users' files next to or in ``--out``, connect
rules NEST would loop on, ``--overwrite`` whose new run fails, concurrent runs into one
folder, sizes that cannot fit, unusable output paths (a file, /proc, read-only, /dev/null,
too long, a full disk), bad threads, dt off NEST's tic, unreadable parameter files,
corrupted run directories, signals (SIGTERM, SIGINT, SIGKILL), a closed stdout pipe.
The full-disk and read-only cases mount small tmpfs file systems (the tests run as root).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import procs
import pytest

from balanced import params as P
from balanced import rundir
from balanced.transaction import STAGING_MARK, staging_path

SMALL = ["--set", "T=100", "--set", "record_n=0"]


def balanced(*args, timeout=120, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "balanced", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kw,
    )


def assert_clean_error(proc, code: int, *needles: str) -> None:
    """Exit ``code``, one line on stderr starting with 'balanced:', containing ``needles``."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("balanced: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def tree_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file below ``folder`` (folders as 'dir')."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, built_model) -> Path:
    """A complete small tutorial run, copied by the tests that need an old run."""
    out = tmp_path_factory.mktemp("base") / "run"
    proc = balanced("run", *SMALL, "--out", out, "--quiet", "--figures", "none")
    assert proc.returncode == 0, proc.stderr
    return out


def old_run(finished_run: Path, where: Path) -> tuple[Path, dict[str, str]]:
    target = where / "old"
    shutil.copytree(finished_run, target)
    return target, tree_digest(target)


@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs file systems under tmp_path: ``tmpfs(size)`` -> mount point."""
    mounts = []

    def mount(size: str) -> Path:
        point = tmp_path / f"mnt{len(mounts)}"
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], check=True)
        mounts.append(point)
        return point

    yield mount
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], check=False)


# ----------------------------------------------------------------------------- 1. users' files
def test_a_folder_that_is_not_a_run_is_never_touched(tmp_path):
    user = tmp_path / "user"
    (user / "spikes").mkdir(parents=True)
    (user / "state").mkdir()
    (user / "spikes" / "mine.txt").write_text("keep")
    (user / "spikes.npz").write_bytes(b"not ours")
    before = tree_digest(user)
    for extra in ([], ["--overwrite"]):
        proc = balanced("run", *SMALL, "--out", user, "--quiet", *extra)
        assert_clean_error(proc, 2, str(user), "not a run directory of balanced", "never overwritten")
    assert tree_digest(user) == before
    assert not staging_path(user).exists()


def test_a_staging_folder_killed_before_its_mark_is_reused_a_foreign_one_never(tmp_path):
    """A run killed between making its staging folder and marking it leaves it empty: the
    next run removes it. One that holds anything without the mark is not ours: refused,
    kept as it is. A committed run keeps no mark."""
    from balanced.transaction import OutputError, RunTransaction

    target = tmp_path / "run"
    staging_path(target).mkdir()
    txn = RunTransaction(target)
    assert txn.begin() == staging_path(target) and (staging_path(target) / STAGING_MARK).is_file()
    (staging_path(target) / "manifest.json").write_text("{}")
    txn.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json"]
    other = tmp_path / "other"
    staging_path(other).mkdir()
    (staging_path(other) / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="exists and was not made by balanced"):
        RunTransaction(other).begin()
    assert (staging_path(other) / "notes.txt").read_text() == "keep" and not other.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _own_run(folder: Path, status: str = "complete") -> Path:
    folder.mkdir(parents=True)
    manifest = {"schema": rundir.SCHEMA, "versions": {"balanced": "0"}, "status": status}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_commit_killed_between_its_renames_leaves_the_old_run_in_place(tmp_path):
    """Killed after moving the old run aside and before moving the new one in: the next run
    into the folder puts the old run back first (and, without --overwrite, refuses it as
    usual). Killed while removing the old run: the next run removes what is left. A folder
    of that name that is not a run of ours, or whose process lives, is never touched."""
    from balanced.transaction import OutputError, RunTransaction

    target = tmp_path / "run"
    aside = _own_run(tmp_path / f".run.old-{_dead_pid()}")
    with pytest.raises(OutputError, match="already holds a run"):
        RunTransaction(target).begin()
    assert json.loads((target / "manifest.json").read_text())["status"] == "complete" and not aside.exists()
    leftover = _own_run(tmp_path / f".run.old-{_dead_pid()}", status="failed")
    foreign = tmp_path / f".run.old-{_dead_pid()}-x"
    foreign.mkdir()
    running = _own_run(tmp_path / ".run.old-1")  # process 1 lives
    txn = RunTransaction(target, overwrite=True)
    txn.begin()
    txn.abort()
    assert not leftover.exists() and foreign.is_dir() and running.is_dir()
    assert json.loads((target / "manifest.json").read_text())["status"] == "complete"


def test_an_empty_old_run_of_a_dead_commit_is_removed_not_put_back(tmp_path):
    """A removal killed after the old run's last file, its manifest: the empty folder is
    removed, and never put in place of an absent target."""
    from balanced.transaction import RunTransaction

    empty = tmp_path / f".run.old-{_dead_pid()}"
    empty.mkdir()
    txn = RunTransaction(tmp_path / "run")
    txn.begin()
    txn.abort()
    assert os.listdir(tmp_path) == []


COMMIT_THEN_WAIT = """
import json, sys
from pathlib import Path
from balanced.transaction import RunTransaction
txn = RunTransaction(Path(sys.argv[1]), overwrite=True)
staging = txn.begin()
(staging / "manifest.json").write_text(json.dumps({"schema": %d, "versions": {"balanced": "0"}, "status": "complete"}))
(staging / "new").write_text("")
print("staged", flush=True)
sys.stdin.readline()
txn.commit()
"""


def test_a_commit_killed_while_removing_the_old_run_leaves_nothing_behind(tmp_path):
    """SIGKILL (the OOM killer) while a commit removes the old run it replaced, aimed at
    10 % to 85 % of its files gone: what is left is still recognised as ours, and the next
    run into the folder removes it. The old run's file names change every round, and with
    them the place of its manifest in the order a removal meets the files."""
    from balanced.transaction import RunTransaction

    code = COMMIT_THEN_WAIT % rundir.SCHEMA
    n_files, caught = 10000, 0
    for round_, gone in enumerate((0.1, 0.25, 0.4, 0.55, 0.7, 0.85)):
        parent = tmp_path / str(round_)
        target = parent / "run"
        _own_run(target)
        for i in range(n_files):
            (target / f"{os.urandom(6).hex()}-{i}").write_bytes(b"")
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout.readline() == "staged\n"
        aside = parent / f".run.old-{child.pid}"
        child.stdin.write("\n")
        child.stdin.flush()
        left = n_files + 1
        deadline = time.monotonic() + 60
        while left > (1 - gone) * n_files and child.poll() is None and time.monotonic() < deadline:
            try:
                left = len(os.listdir(aside))
            except FileNotFoundError:
                left = 0 if (target / "new").exists() else n_files + 1  # not moved aside yet
        child.kill()
        child.wait(timeout=30)
        caught += 0 < left < n_files  # the kill came in the middle of the removal
        txn = RunTransaction(target, overwrite=True)
        txn.begin()
        txn.abort()
        assert sorted(os.listdir(parent)) == ["run"], (round_, left, os.listdir(parent)[:5])
        assert (target / "new").is_file()
    assert caught >= 4, caught


def test_an_analysis_killed_mid_replace_is_cleaned_by_the_next(tmp_path):
    """What an ``analyze`` killed on this host left is removed by the next; another node's
    (same shared folder, a process id that says nothing here) is left alone."""
    from balanced.transaction import replace_folder

    host = os.uname().nodename
    target = tmp_path / "analysis"
    staged, aside = (
        tmp_path / f".analysis.staging-{host}-{_dead_pid()}",
        tmp_path / f".analysis.old-{host}-{_dead_pid()}",
    )
    elsewhere = tmp_path / f".analysis.staging-other-node-{_dead_pid()}"
    for folder in (staged, aside, elsewhere):
        folder.mkdir()
        (folder / "stats.json").write_text("{}")
    replace_folder(target, lambda f: (f / "stats.json").write_text("new"))
    assert (target / "stats.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["analysis", elsewhere.name])


def test_another_programs_manifest_is_not_ours(tmp_path):
    other = tmp_path / "other"
    (other / "analysis").mkdir(parents=True)
    (other / "analysis" / "result.csv").write_text("1,2\n")
    (other / "manifest.json").write_text(json.dumps({"status": "complete", "tool": "someone else"}))
    before = tree_digest(other)
    proc = balanced("run", *SMALL, "--out", other, "--overwrite", "--quiet")
    assert_clean_error(proc, 2, "not a run directory of balanced")
    assert tree_digest(other) == before


@pytest.mark.parametrize(
    "command",
    [
        ("experiment", "chaos-rate"),
        ("experiment", "rate-distribution"),
        ("experiment", "slow-inhibition"),
        ("experiment", "tracking"),
        ("perturb",),
    ],
    ids=lambda c: c[-1],
)
def test_an_experiment_never_writes_among_a_users_files(tmp_path, command):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    before = tree_digest(user)
    proc = balanced(*command, "--out", user, timeout=60)
    assert_clean_error(proc, 2, str(user), "notes.txt", "not a", "choose another --out")
    assert tree_digest(user) == before and sorted(p.name for p in tmp_path.iterdir()) == ["user"]


def test_an_experiment_folder_is_claimed_once_and_kept_to_its_experiment(tmp_path):
    from balanced.transaction import EXPERIMENT_MARK, OutputError, claim_experiment_folder

    out = tmp_path / "a" / "chaos"
    claim_experiment_folder(out, "chaos-rate", "chaos_rate.json")  # absent: made and marked
    assert sorted(os.listdir(out)) == [EXPERIMENT_MARK]
    (out / "K=100").mkdir()
    claim_experiment_folder(out, "chaos-rate", "chaos_rate.json")  # its own: again
    with pytest.raises(OutputError, match="holds a 'chaos-rate' experiment; choose another --out for 'tracking'"):
        claim_experiment_folder(out, "tracking", "tracking.json")
    before = tmp_path / "before"  # from before the mark: recognised by its result
    before.mkdir()
    (before / "tracking.json").write_text("{}")
    (before / "balanced").mkdir()
    claim_experiment_folder(before, "tracking", "tracking.json")
    assert (before / EXPERIMENT_MARK).exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        claim_experiment_folder(tmp_path / "file", "tracking", "tracking.json")


# ----------------------------------------------------------------------------- 2. NEST's infinite loop
@pytest.mark.parametrize(
    "overrides, key",
    [
        (["p=1.0", "allow_autapses=false"], "'p' = 1.0"),
        (["connectivity=fixed_outdegree", "p=1.0", "allow_autapses=false"], "'p' = 1.0"),
    ],
)
def test_degree_nest_cannot_satisfy_is_refused_at_once(overrides, key):
    started = time.perf_counter()
    with pytest.raises(P.ParamError, match="distinct"):
        P.resolve(overrides=overrides)
    with pytest.raises(P.ParamError, match="'K' = 4000.*only 3999 exist"):
        P.resolve("balanced", overrides=["K=4000", "allow_autapses=false"])
    assert time.perf_counter() - started < 10  # validation, not NEST's connect loop (which never ends)
    P.resolve("balanced", overrides=["K=4000"])  # K = N is possible with autapses
    P.resolve(overrides=["p=1.0", "allow_autapses=false", "allow_multapses=true"])
    proc = balanced("run", "--set", overrides[0], *[f"--set={o}" for o in overrides[1:]], "--quiet", timeout=30)
    assert_clean_error(proc, 2, key, "only 499 exist")


# ----------------------------------------------------------------------------- 4. --overwrite
@pytest.mark.parametrize(
    "bad",
    [
        ["--threads", "0"],
        ["--set", "dt=0.00015"],
        ["--set", "t_ref=0.15"],
        ["--set", "N_E=1000000000", "--set", "N_I=1000000000"],
    ],
)
def test_overwrite_whose_new_run_cannot_start_keeps_the_old_run(tmp_path, finished_run, bad):
    target, before = old_run(finished_run, tmp_path)
    proc = balanced("run", *SMALL, *bad, "--out", target, "--overwrite", "--quiet")
    assert_clean_error(proc, 2)
    assert tree_digest(target) == before
    assert not staging_path(target).exists()


def test_overwrite_whose_build_fails_keeps_the_old_run(tmp_path, finished_run):
    target, before = old_run(finished_run, tmp_path)
    env = {**os.environ, "BALANCED_CACHE": str(tmp_path / "empty-cache"), "BALANCED_CXX": "/bin/false"}
    proc = balanced("run", *SMALL, "--out", target, "--overwrite", "--quiet", "--no-analysis", env=env, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert tree_digest(target) == before
    failed = json.loads((staging_path(target) / "manifest.json").read_text())
    assert failed["status"] == "failed" and failed["error"]
    assert not (staging_path(target) / "spikes").exists()


# ----------------------------------------------------------------------------- 5. concurrent runs
def test_two_runs_into_one_folder_one_wins(tmp_path, built_model):
    args = ["run", "--set", "T=3000", "--set", "record_n=0", "--quiet", "--no-analysis"]
    target = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "balanced", *args, "--out", str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refusal = next(err for code, err in results if code == 2)
    assert "Traceback" not in refusal and ("is in use" in refusal or "already holds a run" in refusal), refusal
    solo = tmp_path / "solo"
    assert balanced(*args, "--out", solo).returncode == 0
    a, b = rundir.load_run(target).spikes, rundir.load_run(solo).spikes
    assert len(a) > 0 and np.array_equal(a.neuron, b.neuron) and np.array_equal(a.time, b.time)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared", "solo"]  # no lock or staging left


# ----------------------------------------------------------------------------- 6. sizes
@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["N_E=1000000000", "N_I=1000000000"], "GiB are available"),
        (["N_E=100000000000000000000"], "must be <= 2147483647"),
    ],
)
def test_sizes_that_cannot_fit_are_refused(tmp_path, overrides, needle):
    proc = balanced(
        "run", *[x for o in overrides for x in ("--set", o)], "--out", tmp_path / "big", "--quiet", timeout=60
    )
    assert_clean_error(proc, 2, "N_E", needle)
    assert not (tmp_path / "big").exists()


# ----------------------------------------------------------------------------- 7. output paths
def test_unusable_output_paths(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (a_file, "is not a folder"),
        (Path("/dev/null"), "is not a folder"),
        (Path("/proc/x"), "cannot create files in /proc"),
        (tmp_path / ("a" * 300), "longer than 255 bytes"),
    ]
    for out, needle in cases:
        proc = balanced("run", *SMALL, "--out", out, "--quiet")
        assert_clean_error(proc, 2, needle)
    assert a_file.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_read_only_file_system(tmp_path, tmpfs, finished_run):
    ro = tmpfs("4m")
    shutil.copytree(finished_run, ro / "run")
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    proc = balanced("run", *SMALL, "--out", ro / "new", "--quiet")
    assert_clean_error(proc, 2, str(ro), "Read-only file system")
    proc = balanced("analyze", ro / "run", "--no-figures")
    assert_clean_error(proc, 1, "Read-only file system", "was not changed")


def test_full_disk_leaves_nothing_partial(tmp_path, tmpfs, finished_run, built_model):
    small = tmpfs("600k")
    target, before = old_run(finished_run, small)  # an old run to overwrite (about 240 kB)
    proc = balanced("run", "--set", "T=1000", "--out", target, "--overwrite", "--quiet", "--no-analysis")
    assert_clean_error(proc, 1, "No space left on device", "left as it was")
    assert tree_digest(target) == before
    proc = balanced("run", "--set", "T=1000", "--out", small / "fresh", "--quiet", "--no-analysis")
    assert_clean_error(proc, 1, "No space left on device")
    assert not (small / "fresh").exists()
    leftovers = {p.name for p in small.iterdir()} - {"old"}
    for name in leftovers:  # at most a staging folder that says what happened, without data
        assert name.endswith(".staging"), leftovers
        kept = {p.name for p in (small / name).iterdir()}
        assert kept <= {"manifest.json", "params.toml", STAGING_MARK}, kept


@pytest.mark.parametrize("verb", ["run", "perturb"])
@pytest.mark.parametrize("threads", ["0", "-1", "1000"])
def test_bad_thread_counts(tmp_path, verb, threads):
    proc = balanced(verb, *SMALL, "--threads", threads, "--out", tmp_path / "x", "--quiet")
    assert_clean_error(proc, 2, f"--threads {threads}")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "item, needle",
    [
        ("dt=0.00015", "NEST's time step unit"),
        ("t_ref=0.15", "multiple of dt"),
        ("seed=1\nT=5", "must be one line"),
    ],
)
def test_values_nest_would_reject(item, needle):
    assert_clean_error(balanced("config", "show", "--set", item), 2, needle)


def test_parameter_files_that_cannot_be_read(tmp_path):
    (tmp_path / "latin1.toml").write_bytes(b"T = 100\n# caf\xe9\n")
    os.mkfifo(tmp_path / "fifo")
    for path, needle in [
        (tmp_path / "latin1.toml", "not UTF-8"),
        (tmp_path / "fifo", "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
        (tmp_path, "not a regular file"),
    ]:
        assert_clean_error(balanced("config", "show", "--config", path, timeout=30), 2, str(path), needle)


def test_closed_stdout_pipe():
    proc = subprocess.run(
        f"{sys.executable} -m balanced config show | head -1", shell=True, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.startswith("# balanced") and proc.stderr == ""


# ----------------------------------------------------------------------------- 11, 12, 5. analysis
def corrupt(finished_run: Path, where: Path, change) -> Path:
    run = where / "corrupt"
    shutil.copytree(finished_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    change(manifest, run)
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def _set(path: str, value):
    def change(manifest, run):
        *parents, last = path.split(".")
        node = manifest
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value

    return change


def _nan_time(manifest, run):
    with np.load(run / "spikes.npz") as data:
        neuron, t = data["neuron"], data["time"].copy()
    t[3] = np.nan
    np.savez(run / "spikes.npz", neuron=neuron, time=t)


def _late_time(manifest, run):
    with np.load(run / "spikes.npz") as data:
        neuron, t = data["neuron"], data["time"].copy()
    t[-1] = 1e6
    np.savez(run / "spikes.npz", neuron=neuron, time=t)


@pytest.mark.parametrize(
    "change, needle",
    [
        (_set("populations", KeyError), "'populations' is missing"),
        (
            _set("populations", [{"name": "E", "first": 0, "size": 1000}, {"name": "I", "first": 1000, "size": 500}]),
            "populations[0].size = 1000 but params.N_E = 500",
        ),
        (_set("params.dt", 0), "params.dt = 0"),
        (_set("params.T", "abc"), "params.T = 'abc'"),
        (_set("files.spikes", "../../etc/passwd"), "files.spikes"),
        (_set("run_id", "../../outside"), "run_id"),
        (_nan_time, "not finite"),
        (_late_time, "outside [0, T = 100]"),
    ],
)
def test_corrupted_run_directory_is_refused(tmp_path, finished_run, change, needle):
    run = corrupt(finished_run, tmp_path, change)
    proc = balanced("analyze", run, "--no-figures")
    assert_clean_error(proc, 1, needle)


def test_analysis_output_in_the_way(tmp_path, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    shutil.rmtree(run / "analysis", ignore_errors=True)
    (run / "analysis").write_text("a file where the analysis folder goes")
    assert_clean_error(balanced("analyze", run, "--no-figures"), 1, "analysis", "is not a folder")
    (run / "analysis").unlink()
    (run / "analysis" / "stats.json").mkdir(parents=True)  # a folder where stats.json goes
    proc = balanced("analyze", run, "--no-figures")
    assert proc.returncode == 0, proc.stderr
    assert (run / "analysis" / "stats.json").is_file()  # the analysis folder is replaced as a whole
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_one_step_analysis_window(finished_run):
    proc = balanced("analyze", finished_run, "--t-start", "50", "--t-stop", "50.1", "--no-figures")
    assert_clean_error(proc, 2, "at least 1 ms")


# ----------------------------------------------------------------------------- 8. signals
def start_long_run(target: Path, *extra, analysis: bool = False) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "balanced",
            "run",
            "--set",
            "T=200000",
            "--set",
            "record_n=0",
            "--out",
            str(target),
            "--quiet",
            *(() if analysis else ("--no-analysis",)),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (staging_path(target) / "spikes").exists():  # simulating: the first chunk was written
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_ends_the_run_cleanly(tmp_path, finished_run, built_model, sig):
    target, before = old_run(finished_run, tmp_path)
    proc = start_long_run(target, "--overwrite")
    proc.send_signal(sig)
    code = proc.wait(timeout=30)
    stderr = proc.stderr.read()
    assert code == 128 + sig and "Traceback" not in stderr, stderr
    assert f"interrupted by {sig.name}" in stderr
    assert tree_digest(target) == before  # the old run is intact
    manifest = json.loads((staging_path(target) / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["signal"] == sig.name
    assert sorted(p.name for p in staging_path(target).iterdir()) == sorted(
        [STAGING_MARK, "manifest.json", "params.toml"]
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_paused_analysis_worker_ends_with_the_run(tmp_path, built_model, sig):
    # With the threads on every core the analysis worker and its figure process are
    # stopped while NEST's threads run; when the run ends, even killed, so do they.
    from balanced.kernel import usable_cores

    cores = usable_cores()
    assert cores >= 2, "the analysis worker needs a second core"
    proc = start_long_run(tmp_path / "r", "--threads", str(cores), analysis=True)
    # The worker forks its figure process after importing NumPy; on a loaded machine it may
    # be stopped before that, and a stopped worker forks nothing: wait until all are stopped.
    deadline = time.time() + 30
    while True:
        helpers = procs.descendants(proc.pid)
        if helpers and all(procs.state_of(pid) == "T" for pid in helpers):
            break
        assert time.time() < deadline, {pid: procs.state_of(pid) for pid in helpers}
        time.sleep(0.05)
    assert helpers == procs.descendants(proc.pid) and len(helpers) in (1, 2), helpers
    assert "balanced.analysis.worker" in procs.Process(helpers[0], proc.pid, "T").cmdline()
    proc.send_signal(sig)
    code = proc.wait(timeout=30)
    if sig != signal.SIGKILL:  # handled: the run ends as without a worker
        stderr = proc.stderr.read()
        assert code == 128 + sig and f"interrupted by {sig.name}" in stderr and "Traceback" not in stderr, stderr
    deadline = time.time() + 10
    while any(procs.alive(pid) for pid in helpers):
        assert time.time() < deadline, {pid: procs.state_of(pid) for pid in helpers}
        time.sleep(0.05)


def test_run_analyses_in_process_when_no_worker_can_be_started(tmp_path, built_model):
    # A process limit (ulimit -u on a login node; root is exempt, so the failure is
    # injected): without its analysis worker the run simulates, then analyses itself.
    code = """
import subprocess, sys
start = subprocess.Popen.__init__
def no_worker(self, argv, *a, **kw):
    if "balanced.analysis.worker" in argv:
        raise BlockingIOError(11, "Resource temporarily unavailable")
    start(self, argv, *a, **kw)
subprocess.Popen.__init__ = no_worker
from balanced.cli import console_main
sys.argv = ["balanced", *sys.argv[1:]]
console_main()
"""
    target = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", *SMALL, "--threads", "1", "--out", str(target)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert rundir.load_run(target).manifest["status"] == "complete"
    assert sorted(p.name for p in (target / "analysis").iterdir()) == [
        "raster_rate.pdf",
        "raster_rate.png",
        "stats.json",
    ]
    assert "rate" in proc.stdout, proc.stdout  # the statistics table


def test_killed_run_leaves_the_target_and_is_cleaned_by_the_next(tmp_path, built_model):
    target = tmp_path / "killed"
    proc = start_long_run(target)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists()
    assert json.loads((staging_path(target) / "manifest.json").read_text())["status"] == "running"
    with pytest.raises(rundir.RunDirError, match="the run was killed"):
        rundir.load_run(staging_path(target))
    proc = balanced("run", *SMALL, "--out", target, "--quiet", "--no-analysis")
    assert proc.returncode == 0, proc.stderr
    assert rundir.load_run(target).manifest["status"] == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed"]


# ----------------------------------------------------------------------------- 7. internal errors
def test_unexpected_error_is_one_line_and_a_report(tmp_path, capsys):
    from balanced import cli

    class Args:
        @staticmethod
        def func(args):
            raise ZeroDivisionError("division by zero")

    assert cli.dispatch(Args()) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("balanced: internal error: ZeroDivisionError")
    report = Path(err[0].split("full report in ")[1].split(" ")[0])
    assert "Traceback" in report.read_text() and "ZeroDivisionError" in report.read_text()
    report.unlink()
