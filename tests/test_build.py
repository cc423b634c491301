"""balanced.build: templates, cache, locking, stale modules, MPI refusal and error messages.

Cold builds in this file: one of the packaged model (session fixture ``cold_build``), one
of an edited copy (built by two concurrent processes, compiled once), and the stock-template
build of the default cache (``built_model_stock``, shared with tests/test_model.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from balanced import build as B
from balanced import launch
from balanced.build import BuildError, build_model, generation, load_module, module_status, variants
from balanced.launch import mpi_world_size_from_env

PY = sys.executable
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_mpi_env(monkeypatch):
    for var in launch._MPI_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)


def _kernel_uses_cxx11_abi() -> bool:
    import glob
    import importlib.util

    nest_dir = list(importlib.util.find_spec("nest").submodule_search_locations)[0]
    so = sorted(glob.glob(os.path.join(nest_dir, "nestkernel_api*.so")))[0]
    return b"B5cxx11" in Path(so).read_bytes()


def _edited_model(tmp_path: Path, old: str, new: str) -> Path:
    src = B.default_model_file().read_text()
    assert old in src, f"test needs {old!r} in the model"
    path = tmp_path / "lif_psc_exp.nestml"
    path.write_text(src.replace(old, new, 1))
    return path


# ------------------------------------------------------------------ cache


def test_default_model_file_is_packaged():
    path = B.default_model_file()
    assert path.name == "lif_psc_exp.nestml" and path.is_file()
    assert "model lif_psc_exp:" in path.read_text()


def test_cold_build_produces_module(cold_build, build_cache):
    r = cold_build
    assert not r.cached
    assert r.model == "lif_psc_exp_nestml"
    assert r.nest_version == "3.10.0"
    assert os.path.isabs(r.module) and not r.module.endswith(".so")
    assert Path(r.module + ".so").is_file()
    assert Path(r.directory) == Path(build_cache).resolve() / r.key
    stamp = json.loads((Path(r.directory) / "stamp.json").read_text())
    assert stamp["key"] == r.key and stamp["model"] == r.model
    # the corrected nest-config that NESTML used: real include dir, ABI matched to the wheel
    cfg = Path(r.directory) / "nest" / "bin" / "nest-config"
    out = subprocess.run([str(cfg), "--cflags", "--includes", "--compiler"], capture_output=True, text=True)
    assert out.returncode == 0
    # the PyPI wheel uses the old C++ string ABI, a NEST built here with g++ 12 the new one
    assert f"-D_GLIBCXX_USE_CXX11_ABI={int(_kernel_uses_cxx11_abi())}" in out.stdout
    assert "-fopenmp" in out.stdout
    assert "site-packages/nest/include/nest" in out.stdout
    assert not list(Path(build_cache).glob(".*.tmp-*")), "temporary build folder left behind"


def _code(path: Path) -> str:
    """C++ source without comments."""
    return re.sub(r"/\*.*?\*/", "", re.sub(r"//[^\n]*", "", path.read_text()), flags=re.DOTALL)


def test_generated_code_takes_the_fast_spike_input(cold_build):
    """The package's templates generate one ring of input slots, no "received" flag, and
    update/handle without the branches and calls iaf_psc_exp does not have."""
    stamp = json.loads((Path(cold_build.directory) / "stamp.json").read_text())
    assert stamp["templates"] == "balanced" and stamp["inputs"]["templates"] == "balanced"
    gen = Path(cold_build.directory) / "generated"
    cpp, h = _code(gen / "lif_psc_exp_nestml.cpp"), _code(gen / "lif_psc_exp_nestml.h")
    for gone in ("RingBuffer", "spike_input_received", "spike_inputs_[", "continuous_inputs_["):
        assert gone not in cpp + h, gone
    slot = "B_.input_slots_[ nest::kernel().event_delivery_manager.get_modulo("
    assert cpp.count(slot + "\n") == 2  # the spike and the current handler
    assert "auto& input_slot = B_.input_slots_[ nest::kernel().event_delivery_manager.get_modulo( lag ) ];" in cpp
    assert "spike_inputs_grid_sum_[EXC_SPIKES - MIN_SPIKE_RECEPTOR] != 0." not in cpp
    update = cpp[cpp.index("lif_psc_exp_nestml::update(") :]
    for port in ("exc_spikes", "inh_spikes"):  # every step, inlined: no branch, no call
        assert f"\n    on_receive_block_{port}(origin, lag);\n" in update
        assert f"inline void on_receive_block_{port}(nest::Time const &origin, const long lag);" in h
    handle = cpp[cpp.index("lif_psc_exp_nestml::handle(nest::SpikeEvent &e)") :]
    handle = handle[: handle.index("\n}\n")]
    assert "( s < 0. ? INH_SPIKES : EXC_SPIKES ) - MIN_SPIKE_RECEPTOR ] += s;" in handle
    assert "B_.spike_inputs_grid_sum_[INH_SPIKES - MIN_SPIKE_RECEPTOR] = -input_slot[INH_SPIKES" in update
    assert "rport_to_nestml_buffer_idx" not in handle and "if (" not in handle
    assert "V_m__tmp = " in update and "/" not in update[update.index("V_m__tmp = ") :].split(";")[0]
    assert "std::array< double, NUM_SPIKE_RECEPTORS > spike_inputs_grid_sum_{};" in h
    assert "std::vector< std::array< double, NUM_SPIKE_RECEPTORS + NUM_CONTINUOUS_INPUT_PORTS > > input_slots_;" in h


def test_stock_templates_build_nestmls_own_code(built_model_stock, built_model):
    """``templates="stock"``: NESTML's templates, its own module and model names, own key."""
    r = built_model_stock
    assert r.model == "lif_psc_exp_nestml_stock" and Path(r.module).name == "balancedstockmodule"
    assert r.key != built_model.key and Path(r.module + ".so").is_file()
    stamp = json.loads((Path(r.directory) / "stamp.json").read_text())
    assert stamp["templates"] == "stock"
    cpp = _code(Path(r.directory) / "generated" / "lif_psc_exp_nestml_stock.cpp")
    assert "B_.spike_input_received_[ nestml_buffer_idx - MIN_SPIKE_RECEPTOR ].add_value(" in cpp
    assert "input_slots_" not in cpp
    assert build_model(templates="stock").cached


@pytest.mark.pure  # no NEST: runs in the fast tier too
def test_unknown_template_variant_is_refused(tmp_path):
    with pytest.raises(BuildError, match=r"templates: 'fast' is not a template variant; allowed: balanced, stock"):
        build_model(templates="fast", cache_dir=str(tmp_path))


# ------------------------------------------------------------- templates


@pytest.mark.pure  # no NEST: runs in the fast tier too
def test_template_copy_is_complete_and_changes_only_the_recorded_files():
    record = variants.upstream_record()
    ours = variants.tree_hashes(variants.TREE)
    assert record["nestml_version"] == "9.0.0"
    assert record["added"] == ["setup/common/ConnectionRules.jinja2"]  # the module's connection rule
    assert set(ours) == set(record["files"]) | set(record["added"]), "the copy must be a complete point_neuron tree"
    differ = sorted(p for p in record["files"] if ours[p] != record["files"][p])
    assert (
        differ
        == record["changed"]
        == [
            "common/NeuronClass.jinja2",
            "common/NeuronHeader.jinja2",
            "directives_cpp/ContinuousInputBufferGetter.jinja2",
            "directives_cpp/SpikeBufferGetter.jinja2",
            "setup/common/ModuleClassMaster.jinja2",
        ]
    )


@pytest.mark.pure  # no NEST: runs in the fast tier too
def test_recorded_upstream_is_nestml_9_0_0_as_installed():
    """The record holds NESTML 9.0.0's own hashes (its wheel's RECORD), and the installed
    NESTML has exactly that tree (so the build's check passes here)."""
    import base64
    import importlib.metadata

    record = variants.upstream_record()["files"]
    prefix = "pynestml/" + variants.UPSTREAM_SUBDIR.as_posix() + "/"
    wheel = {}
    for f in importlib.metadata.files("nestml"):
        if str(f).startswith(prefix) and f.hash is not None:
            assert f.hash.mode == "sha256"
            wheel[str(f)[len(prefix) :]] = base64.urlsafe_b64decode(f.hash.value + "==").hex()
    assert wheel == record
    import pynestml

    installed = variants.tree_hashes(Path(pynestml.__file__).parent / variants.UPSTREAM_SUBDIR)
    assert installed == record


def _nestml_copy(tmp_path: Path, change: str) -> Path:
    """A copy of the installed pynestml package with its point_neuron templates changed."""
    import pynestml

    site = tmp_path / "site"
    shutil.copytree(Path(pynestml.__file__).parent, site / "pynestml", ignore=shutil.ignore_patterns("__pycache__"))
    tree = site / "pynestml" / variants.UPSTREAM_SUBDIR
    if change == "edited":
        f = tree / "common" / "NeuronClass.jinja2"
        f.write_text(
            f.read_text().replace("get_spike_inputs_()[i].get_value(lag)", "get_spike_inputs_()[i].get_value(lag + 0)")
        )
    elif change == "removed":
        (tree / "directives_cpp" / "SpikeBufferGetter.jinja2").unlink()
    else:
        (tree / "directives_cpp" / "NewDirective.jinja2").write_text("{# new upstream file #}\n")
    return site


@pytest.mark.parametrize(
    "change,named",
    [
        ("edited", "common/NeuronClass.jinja2"),
        ("removed", "directives_cpp/SpikeBufferGetter.jinja2"),
        ("added", "directives_cpp/NewDirective.jinja2"),
    ],
)
def test_changed_upstream_templates_stop_the_build(build_cache, tmp_path, change, named, no_mpi_env):
    """A NESTML whose templates differ from the recorded ones (here: the installed one,
    copied with one template changed, first on PYTHONPATH) stops `balanced build` with one
    line naming that NESTML's version, before anything is generated."""
    site = _nestml_copy(tmp_path, change)
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(site), "BALANCED_CACHE": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [PY, "-m", "balanced.cli", "build"], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    msg = proc.stderr.strip()
    assert "\n" not in msg and "Traceback" not in msg, msg
    assert msg.startswith("balanced: error: The point_neuron templates of the installed NESTML 9.0.0 (")
    assert "differ from the NESTML 9.0.0 ones that balanced's templates are made from" in msg
    assert str(site / "pynestml") in msg and f"(differing: {named})" in msg
    assert "install nestml==9.0.0, or build with NESTML's own templates (`balanced build --templates stock`)" in msg
    assert not list(cache.glob("lif_psc_exp_nestml-*")) and not list(cache.glob("*.build.log"))
    assert time.perf_counter() - t0 < 60  # refused before generating


@pytest.mark.pure  # no NEST: runs in the fast tier too
def test_in_target_scripts_import_nothing_of_balanced():
    """The scripts run by file path in another environment's Python: standard library,
    nest and pynestml only."""
    import ast

    folder = Path(B.__file__).parent / "in_target"
    scripts = sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")
    assert [p.name for p in scripts] == ["generate.py", "locate.py", "probe.py"]
    for script in scripts:
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{script.name}: relative import"
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ("nest", "pynestml", "__future__"), (script.name, name)


def test_build_command_selects_templates(built_model_stock):
    out = subprocess.run(
        [PY, "-m", "balanced.cli", "build", "--templates", "stock", "--json"], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["cached"] and res["key"] == built_model_stock.key and res["model"] == "lif_psc_exp_nestml_stock"
    bad = subprocess.run(
        [PY, "-m", "balanced.cli", "build", "--templates", "fast"], capture_output=True, text=True, cwd=REPO
    )
    assert bad.returncode == 2 and "invalid choice: 'fast'" in bad.stderr


def test_second_build_is_a_fast_cache_hit_without_nest(cold_build, build_cache):
    code = textwrap.dedent(
        f"""
        import json, sys, time
        t0 = time.perf_counter()
        from balanced.build import build_model
        r = build_model(cache_dir={build_cache!r})
        dt = time.perf_counter() - t0
        print(json.dumps({{"cached": r.cached, "key": r.key, "dt": dt, "seconds": r.seconds,
                          "nest": "nest" in sys.modules, "nestml": "pynestml" in sys.modules}}))
        """
    )
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["cached"] is True
    assert res["key"] == cold_build.key
    assert res["dt"] < 1.0 and res["seconds"] < 1.0
    assert res["nest"] is False and res["nestml"] is False


def test_edited_model_concurrent_builds_compile_once(cold_build, build_cache, tmp_path):
    """A changed model gets a new key; two processes building it at once compile it once."""
    model = _edited_model(tmp_path, "# Membrane potential\n", "# Membrane potential (edited)\n")
    code = textwrap.dedent(
        f"""
        import json
        from balanced.build import build_model
        r = build_model(model_file={str(model)!r}, cache_dir={build_cache!r})
        print(json.dumps({{"cached": r.cached, "key": r.key, "module": r.module}}))
        """
    )
    procs = [
        subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["key"] == results[1]["key"] != cold_build.key
    assert sorted(r["cached"] for r in results) == [False, True], "expected exactly one compile"
    assert Path(results[0]["module"] + ".so").is_file()
    # the original model is still a cache hit, the edited one too
    assert build_model(cache_dir=build_cache).cached
    assert build_model(model_file=model, cache_dir=build_cache).cached


def test_stale_stamp_is_never_used(cold_build, build_cache, tmp_path, monkeypatch, no_mpi_env):
    """A stamp that disagrees with the current NEST (here: another NEST version) means rebuild."""
    cache = tmp_path / "cache"
    shutil.copytree(build_cache, cache, ignore=shutil.ignore_patterns(".locks", "*.tmp-*"))
    stamp_file = cache / cold_build.key / "stamp.json"
    assert build_model(cache_dir=str(cache)).cached  # the copy is valid as it stands
    stamp = json.loads(stamp_file.read_text())
    stamp["inputs"]["nest_version"] = "3.9.0"
    stamp_file.write_text(json.dumps(stamp))

    calls = []

    def fake_compile(*args, **kwargs):
        calls.append(args)
        raise BuildError("compile called")

    monkeypatch.setattr(generation, "compile_module", fake_compile)
    with pytest.raises(BuildError, match="compile called"):
        build_model(cache_dir=str(cache))
    assert len(calls) == 1
    # the same stale module under MPI: refused with instructions, never rebuilt
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(BuildError, match=r"balanced build.*single process"):
        build_model(cache_dir=str(cache))
    assert len(calls) == 1


def test_missing_so_is_not_a_cache_hit(cold_build, build_cache, tmp_path, monkeypatch, no_mpi_env):
    cache = tmp_path / "cache"
    shutil.copytree(build_cache, cache, ignore=shutil.ignore_patterns(".locks", "*.tmp-*"))
    (cache / cold_build.key / "balancedmodule.so").unlink()
    monkeypatch.setattr(
        generation, "compile_module", lambda *a, **k: (_ for _ in ()).throw(BuildError("compile called"))
    )
    with pytest.raises(BuildError, match="compile called"):
        build_model(cache_dir=str(cache))


# ------------------------------------------------------------------- load


class _FakeNest:
    def __init__(self, version="3.10.0", file=None, install_error=None):
        self.__version__ = version
        self.__file__ = file
        self.node_models = ("iaf_psc_exp",)
        self._err = install_error
        self.installed = []

    def Install(self, path):  # noqa: N802 - NEST's name
        if self._err:
            raise self._err
        self.installed.append(path)


def test_load_module_refuses_module_for_other_nest_version(cold_build):
    fake = _FakeNest(version="3.9.0")
    with pytest.raises(BuildError, match=r"built for NEST 3\.10\.0.*runs NEST 3\.9\.0"):
        load_module(fake, cold_build)
    assert fake.installed == []


def test_load_module_refuses_module_for_other_nest_location(cold_build, tmp_path):
    fake = _FakeNest(file=str(tmp_path / "elsewhere" / "nest" / "__init__.py"))
    with pytest.raises(BuildError, match="was built for the NEST at"):
        load_module(fake, cold_build)


def test_load_module_explains_abi_mismatch(cold_build):
    err = RuntimeError("DynamicModuleManagementError: undefined symbol: _ZN4nest6kernelB5cxx11Ev")
    fake = _FakeNest(install_error=err)
    with pytest.raises(BuildError, match="built for another NEST") as info:
        load_module(fake, cold_build)
    assert "balanced build --force" in str(info.value)


def test_load_module_missing_file(cold_build, tmp_path):
    gone = B.BuildResult(**{**cold_build.__dict__, "module": str(tmp_path / "balancedmodule")})
    with pytest.raises(BuildError, match="does not exist"):
        load_module(_FakeNest(), gone)


def test_load_module_into_real_nest(cold_build):
    code = textwrap.dedent(
        f"""
        import nest
        from balanced.build import BuildResult, load_module
        r = BuildResult(**{cold_build.__dict__!r})
        nest.ResetKernel()
        load_module(nest, r)
        load_module(nest, r)  # idempotent until the next reset
        n = nest.Create(r.model)
        print("OK", n.V_m, n.get("C_m"))
        nest.ResetKernel()
        assert r.model not in nest.node_models
        load_module(nest, r)
        nest.Create(r.model)
        print("RELOADED")
        """
    )
    out = subprocess.run(
        [PY, "-c", code], capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYNEST_QUIET": "1"}
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK -70.0 250.0" in out.stdout and "RELOADED" in out.stdout


# ------------------------------------------------------------------- MPI


def test_cache_that_is_a_file_is_refused_naming_it(tmp_path, monkeypatch):
    plain = tmp_path / "not-a-folder"
    plain.write_text("x")
    with pytest.raises(BuildError, match=f"module cache {plain} is not a folder"):
        build_model(cache_dir=str(plain))
    monkeypatch.setenv("BALANCED_CACHE", str(plain))
    status = module_status()  # for `balanced doctor`: reported with the rest
    assert f"BALANCED_CACHE={plain} is not a folder" in status["cache_error"] and status["compiler"]
    assert plain.read_text() == "x"


def test_mpi_world_size_from_env():
    assert mpi_world_size_from_env({}) == 1
    assert mpi_world_size_from_env({"OMPI_COMM_WORLD_SIZE": "4"}) == 4
    assert mpi_world_size_from_env({"PMI_SIZE": "3"}) == 3
    assert mpi_world_size_from_env({"MPI_LOCALNRANKS": "2", "PMI_SIZE": "1"}) == 2
    assert mpi_world_size_from_env({"OMPI_COMM_WORLD_SIZE": "junk"}) == 1


def test_mpi_with_empty_cache_refuses_to_build(tmp_path, monkeypatch, no_mpi_env):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    t0 = time.perf_counter()
    with pytest.raises(BuildError, match=r"Run `balanced build` first, in a single process"):
        build_model(cache_dir=str(tmp_path / "empty"))
    assert time.perf_counter() - t0 < 5  # no probing, no compiling


def test_mpi_with_built_cache_uses_it(cold_build, build_cache, monkeypatch, no_mpi_env):
    monkeypatch.setenv("PMI_SIZE", "2")
    r = build_model(cache_dir=build_cache)
    assert r.cached and r.key == cold_build.key


def test_mpi_refuses_to_build_a_changed_model(cold_build, build_cache, tmp_path, monkeypatch, no_mpi_env):
    model = _edited_model(tmp_path, "# Resting potential\n", "# Resting potential (changed)\n")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(BuildError, match="MPI ranks"):
        build_model(model_file=model, cache_dir=build_cache)


# ---------------------------------------------------------- error messages


def test_nestml_syntax_error_names_file_and_line(build_cache, tmp_path, no_mpi_env):
    model = _edited_model(tmp_path, "V_m' = -(V_m - E_L) / tau_m", "V_m' = -(V_m - E_L / tau_m")
    with pytest.raises(BuildError) as info:
        build_model(model_file=model, cache_dir=build_cache)
    msg = str(info.value)
    assert f"{model}:" in msg
    lines = [int(x) for x in re.findall(re.escape(str(model)) + r":(\d+)", msg)]
    bad_line = next(i for i, ln in enumerate(model.read_text().splitlines(), 1) if "V_m' =" in ln)
    assert any(bad_line <= ln <= bad_line + 2 for ln in lines), msg
    assert "parsing" in msg


def test_on_receive_block_that_is_not_additive_is_refused(build_cache, tmp_path, no_mpi_env):
    """The package's templates run onReceive blocks in every step: a block that would add
    something without input stops the build, naming the block and the way out."""
    model = _edited_model(tmp_path, "I_syn_ex += exc_spikes * 1 pA * 1 s", "I_syn_ex += 1 pA")
    with pytest.raises(BuildError, match=r"onReceive\(exc_spikes\).*I_syn_ex \+= 1 pA.*NESTML's own templates"):
        build_model(model_file=model, cache_dir=build_cache)


def test_nestml_semantic_error_names_file_and_line(build_cache, tmp_path, no_mpi_env):
    model = _edited_model(tmp_path, "V_m = V_reset\n", "V_m = V_nowhere\n")
    bad_line = next(i for i, ln in enumerate(model.read_text().splitlines(), 1) if "V_nowhere" in ln)
    with pytest.raises(BuildError, match=rf"{re.escape(str(model))}:{bad_line}:\d+: .*V_nowhere"):
        build_model(model_file=model, cache_dir=build_cache)


def test_missing_compiler_names_debian_packages(build_cache, tmp_path, monkeypatch, no_mpi_env):
    model = _edited_model(tmp_path, "# Spike threshold\n", "# Spike threshold (no compiler)\n")
    monkeypatch.setenv("BALANCED_CXX", "/nonexistent/g++")
    with pytest.raises(BuildError) as info:
        build_model(model_file=model, cache_dir=build_cache)
    msg = str(info.value)
    assert "/nonexistent/g++" in msg
    for pkg in ("build-essential", "cmake", "libboost-dev", "libltdl-dev", "libgsl-dev"):
        assert pkg in msg
    assert "apt-get install" in msg


def test_missing_cmake_on_path_names_debian_packages(build_cache, tmp_path, monkeypatch, no_mpi_env):
    model = _edited_model(tmp_path, "# Spike threshold\n", "# Spike threshold (no cmake)\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("g++", "make"):  # a PATH with a compiler and make but without cmake
        os.symlink(shutil.which(tool), bindir / tool)
    monkeypatch.setenv("PATH", str(bindir))
    with pytest.raises(BuildError, match=r"(?s)`cmake` not found.*apt-get install build-essential cmake"):
        build_model(model_file=model, cache_dir=build_cache)


def test_nest_not_importable_is_explained(tmp_path, no_mpi_env):
    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import nest"], capture_output=True)
    assert probe.returncode != 0, "test needs an interpreter without NEST"
    with pytest.raises(
        BuildError, match=r"NEST is not importable with /usr/bin/python3.*\n.*pip install nest-simulator"
    ):
        build_model(cache_dir=str(tmp_path), python=python)


def test_unreadable_model_file(tmp_path):
    with pytest.raises(BuildError, match="Cannot read the model file"):
        build_model(model_file=tmp_path / "nope.nestml", cache_dir=str(tmp_path))


# ------------------------------------------------------------------ doctor


def test_module_status_reports_current_module(cold_build, build_cache, no_mpi_env):
    st = module_status(cache_dir=build_cache)
    assert st["nest_importable"] and st["nest_version"] == "3.10.0"
    assert isinstance(st["have_mpi"], bool) and st["have_threads"] is True
    assert st["cxx11_abi"] is _kernel_uses_cxx11_abi()
    assert st["nestml_version"] == "9.0.0"
    assert st["module_built"] and st["module_current"] and st["module_key"] == cold_build.key
    assert st["compiler"] and st["cmake"]
    assert st["headers"] == {"boost": True, "ltdl": True, "gsl": True}
    assert st["missing_debian_packages"] == []


def test_module_status_without_nest_or_build(tmp_path, monkeypatch, no_mpi_env):
    monkeypatch.setenv("BALANCED_CXX", "/nonexistent/g++")
    st = module_status(cache_dir=str(tmp_path), python="/usr/bin/python3")
    assert st["nest_importable"] is False and "pip install nest-simulator" in st["nest_error"]
    assert st["module_current"] is False
    assert "build-essential" in st["missing_debian_packages"]
