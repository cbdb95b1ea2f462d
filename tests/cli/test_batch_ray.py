"""``real3d batch --scheduler ray``: one Ray task per sequence, the same summary and resume
as the local scheduler; without Ray installed a clear error before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from real3d.cli.batch_cmd import RAY_EXTRA, run_batch
from real3d.cli.main import app
from real3d.core.errors import ConfigError, InputError

TINY = ["--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]
SRC = Path(__file__).resolve().parents[2] / "src"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    """Two tiny synthetic sequences and a corrupt bag."""
    from real3d.synth import generate_sequence, write_sequence

    root = tmp_path_factory.mktemp("rayseqs")
    seq = generate_sequence(10, 2, size=(48, 64))
    for k in range(2):
        write_sequence(root / f"room{k}", seq.frames, seq.scene, image_format="png")
    (root / "broken.bag").write_bytes(b"#ROSBAG V2.0\n" + b"\0" * 40)
    return root


@pytest.fixture(scope="module")
def ray_cluster():
    """A 2-worker local Ray (small object store, no dashboard), stopped after the module."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024**2, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow  # a local Ray and three real3d run processes
def test_ray_three_sequences_one_corrupt_two_done_one_failed_then_resumed(seqs, ray_cluster, tmp_path):
    out = tmp_path / "out"
    args = ["batch", str(seqs / "room*"), str(seqs / "broken.bag"), "--out", str(out), "--scheduler", "ray", *TINY]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output
    s = json.loads((out / "batch_summary.json").read_text())
    assert s["scheduler"] == "ray"
    assert s["counts"] == {"sequences": 3, "done": 2, "done_earlier": 0, "failed": 1, "not_run": 0}
    by = {e["name"]: e for e in s["sequences"]}
    assert by["room0"]["status"] == by["room1"]["status"] == "done"
    assert by["room0"]["fused"] == by["room1"]["fused"] == 2
    assert (out / "room1" / "metrics.json").is_file()
    assert by["broken"]["status"] == "failed" and by["broken"]["exit_code"] != 0
    assert "rosbag" in by["broken"]["reason"] and (out / "logs" / "broken.log").is_file()
    assert "2 done, 0 done earlier, 1 failed" in r.output
    md = (out / "batch_summary.md").read_text()
    assert "| room1 | done | 2 |" in md and "- **broken**" in md
    # a Ray this process was connected to already is used, and left running
    assert ray_cluster.is_initialized()
    # again: the finished sequences are skipped (inside their tasks), the failed one is tried again
    r = CliRunner().invoke(app, args)
    s = json.loads((out / "batch_summary.json").read_text())
    assert s["counts"] == {"sequences": 3, "done": 0, "done_earlier": 2, "failed": 1, "not_run": 0}
    assert s["frames_fused"] == 4


@pytest.mark.slow  # starts and stops its own local Ray
def test_ray_started_for_the_batch_and_stopped(seqs, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "real3d.cli.main", "batch", str(seqs / "broken.bag"), "--out", str(out)]
    r = subprocess.run([*cmd, "--scheduler", "ray", "-j", "2"], capture_output=True, text=True, env=_env())
    assert r.returncode == 1, r.stderr
    s = json.loads((out / "batch_summary.json").read_text())
    assert s["scheduler"] == "ray" and s["counts"]["failed"] == 1 and s["counts"]["done"] == 0
    assert "0 done, 0 done earlier, 1 failed" in r.stdout


def test_without_ray_the_scheduler_fails_fast_naming_the_extra(seqs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["batch", str(seqs / "room0"), "--out", str(out), "--scheduler", "ray"])
    assert isinstance(r.exception, ConfigError)
    assert RAY_EXTRA in str(r.exception) and "--scheduler ray" in str(r.exception)
    assert not out.exists()  # nothing was started or written
    with pytest.raises(ConfigError, match=r"real3d\[ray\]"):
        run_batch([seqs / "room0"], out, [], scheduler="ray")
    assert not out.exists()


def test_without_ray_the_command_exits_non_zero(seqs, tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from real3d.cli.main import main\n"
        f"sys.argv = ['real3d', 'batch', {str(seqs / 'room0')!r}, '--out', {str(tmp_path / 'o')!r},"
        " '--scheduler', 'ray']\n"
        "main()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert r.returncode == 2
    assert "real3d: error:" in r.stderr and "pip install 'real3d[ray]'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_scheduler_and_address_without_ray(seqs, tmp_path):
    r = CliRunner().invoke(app, ["batch", str(seqs / "room0"), "--out", str(tmp_path / "o"), "--scheduler", "dask"])
    assert isinstance(r.exception, ConfigError) and "local, ray" in str(r.exception)
    r = CliRunner().invoke(app, ["batch", str(seqs / "room0"), "--out", str(tmp_path / "o"), "--address", "auto"])
    assert isinstance(r.exception, InputError) and "--scheduler ray" in str(r.exception)
    with pytest.raises(ConfigError, match="scheduler expected one of"):
        run_batch([seqs / "room0"], tmp_path / "o", [], scheduler="slurm")
    assert not (tmp_path / "o").exists()


def test_a_stopped_ray_batch_starts_nothing(tmp_path):
    import threading

    ray = pytest.importorskip("ray")
    was = ray.is_initialized()
    (tmp_path / "a").mkdir()
    stop = threading.Event()
    stop.set()
    s = run_batch([tmp_path / "a"], tmp_path / "out", [], scheduler="ray", stop=stop)
    assert [e["status"] for e in s["sequences"]] == ["not run"] and s["scheduler"] == "ray"
    assert ray.is_initialized() == was  # no Ray was started for it
