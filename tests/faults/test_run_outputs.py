"""Fault cases of a run's lifetime and its output set: SIGINT / SIGTERM / a second signal /
kill -9 of ``real3d run`` in a subprocess, a failing write in the middle of the set, bad
``--out`` targets, realtime timestamp gaps and a stop while the replay waits.

Every case ends in a real3d error, a partial set marked as such, or the earlier set kept
whole, and never leaves a temporary behind."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.core.errors import ConfigError, OutputError
from real3d.core.files import atomic_dir, remove_stale_temporaries
from real3d.viz.report import OUTPUT_FILES, OutputSet

SRC = Path(__file__).resolve().parents[2] / "src"
TINY = ["--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]
N_FRAMES = 40  # at 4 frames per second of recording: a 10 s realtime replay


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def frames():
    """Three small rendered frames (and their scene)."""
    from real3d.synth import generate_sequence

    return generate_sequence(4, 3, size=(48, 64), fps=4)


@pytest.fixture(scope="module")
def seq_dir(frames, tmp_path_factory) -> Path:
    """A sequence on disk of N_FRAMES frames, 0.25 s apart (the three frames repeated)."""
    from real3d.synth import write_sequence

    fr = [frames.frames[k % 3].replace(index=k, timestamp_s=k / 4) for k in range(N_FRAMES)]
    return write_sequence(tmp_path_factory.mktemp("seq") / "seq", fr, frames.scene, image_format="png")


@pytest.fixture(scope="module")
def old_set(seq_dir, tmp_path_factory) -> Path:
    """A complete output set of an earlier run (3 frames, offline)."""
    out = tmp_path_factory.mktemp("old") / "out"
    r = CliRunner().invoke(app, ["run", str(seq_dir), "--out", str(out), "--max-frames", "3", *TINY])
    assert r.exit_code == 0, r.output
    return out


def snapshot(folder: Path) -> dict:
    """{relative path: bytes} of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_old_set(old_set: Path, parent: Path) -> Path:
    out = parent / "out"
    shutil.copytree(old_set, out)
    return out


def temporaries(parent: Path, name: str = "out") -> list[str]:
    """Leftovers beside or inside ``parent / name``: staging / aside folders, ``.part`` files."""
    left = [e.name for e in parent.iterdir() if e.name.startswith(f".{name}.")]
    if (parent / name).is_dir():
        left += [str(p) for p in (parent / name).rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]
    return left


def assert_complete(out: Path) -> dict:
    for f in OUTPUT_FILES:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    m = json.loads((out / "metrics.json").read_text())
    json.loads((out / "scene_graph.json").read_text())
    json.loads((out / "path.json").read_text())
    return m


# ---------------------------------------------------------------------------- subprocess runs
# The command in a subprocess; with a "go" file given, the map export waits (up to 60 s)
# until that file exists, after path.json was written: a window to signal or kill the run
# in the middle of writing its set.
BOOT = """
import sys, time
from pathlib import Path
import real3d.mapping.export as export

real_export = export.export_point_cloud_ply
go = Path(sys.argv.pop(1))

def paused_export(*args, **kwargs):
    print("writing semantic_map.ply", file=sys.stderr, flush=True)
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return real_export(*args, **kwargs)

export.export_point_cloud_ply = paused_export
from real3d.cli.main import main
main()
"""


def start_run(seq_dir: Path, out: Path, log: Path, *extra, go: Path | None = None) -> subprocess.Popen:
    """``real3d run SEQ --out OUT`` (realtime unless ``extra`` says otherwise), its stderr
    into ``log``; ``go``: pause in the middle of writing the set until that file exists."""
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = ["-m", "real3d.cli.main"] if go is None else ["-c", BOOT, str(go)]
    mode = [] if "--mode" in extra else ["--mode", "realtime"]
    with open(log, "wb") as err:
        return subprocess.Popen(
            [sys.executable, *cmd, "run", str(seq_dir), "--out", str(out), *mode, *TINY, *extra],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=log.parent,
        )


def wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout_s: float = 120) -> str:
    """Poll the run's stderr until ``pattern`` shows (the plain progress lines of a run
    without a terminal), instead of sleeping blindly."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if re.search(pattern, text, re.M):
            return text
        if proc.poll() is not None:
            pytest.fail(f"run ended (rc {proc.returncode}) before {pattern!r}:\n{text}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"no {pattern!r} within {timeout_s} s:\n{log.read_text(errors='replace')}")


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_writes_the_partial_outputs(seq_dir, tmp_path, sig, code):
    parent = tmp_path / "runs"
    parent.mkdir()
    out, log = parent / "out", tmp_path / "stderr.txt"
    proc = start_run(seq_dir, out, log)
    wait_for(log, r"^frame 4/40", proc)
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == code
    err = log.read_text()
    assert f"{sig.name} received" in err and f"stopped by {sig.name}" in err
    m = assert_complete(out)
    assert m["partial"] is True and m["stopped_by"] == sig.name
    assert m["run"]["stopped"] is True
    assert 4 <= m["run"]["frames_in"] < N_FRAMES
    assert m["run"]["processed"] >= 4
    assert "Partial run" in (out / "report.md").read_text()
    assert temporaries(parent) == []


@pytest.mark.slow
def test_a_second_signal_aborts_and_keeps_the_earlier_set(seq_dir, old_set, tmp_path):
    parent = tmp_path / "runs"
    parent.mkdir()
    out = copy_old_set(old_set, parent)
    before = snapshot(out)
    log = tmp_path / "stderr.txt"
    proc = start_run(seq_dir, out, log)
    wait_for(log, r"^frame 4/40", proc)
    proc.send_signal(signal.SIGINT)
    wait_for(log, r"SIGINT received", proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert "aborted" in log.read_text()
    assert snapshot(out) == before
    assert temporaries(parent) == []


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["processing", "writing"])
def test_kill_9_of_a_second_run_keeps_the_earlier_set(seq_dir, old_set, tmp_path, stage):
    parent = tmp_path / "runs"
    parent.mkdir()
    out = copy_old_set(old_set, parent)
    before = snapshot(out)
    log = tmp_path / "stderr.txt"
    if stage == "processing":
        proc = start_run(seq_dir, out, log)
        wait_for(log, r"^frame 4/40", proc)
    else:  # path.json of the new set written, the map not yet
        proc = start_run(seq_dir, out, log, "--mode", "offline", "--max-frames", "3", go=tmp_path / "go")
        wait_for(log, r"^writing semantic_map.ply", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert snapshot(out) == before
    assert_complete(out)
    # A killed process cannot clean up: its staging folder stays until the next run.
    stale = [e for e in parent.iterdir() if e.name.startswith(f".out.tmp-{proc.pid}-")]
    assert len(stale) == 1
    with OutputSet(out):
        pass
    assert temporaries(parent) == []
    assert snapshot(out) == before


@pytest.mark.slow
def test_sigint_while_writing_completes_the_set(seq_dir, old_set, tmp_path):
    parent = tmp_path / "runs"
    parent.mkdir()
    out = copy_old_set(old_set, parent)
    log, go = tmp_path / "stderr.txt", tmp_path / "go"
    proc = start_run(seq_dir, out, log, "--mode", "offline", "--max-frames", "2", go=go)
    wait_for(log, r"^writing semantic_map.ply", proc)
    proc.send_signal(signal.SIGINT)
    wait_for(log, r"SIGINT received", proc)
    go.write_text("")
    assert proc.wait(timeout=120) == 130
    m = assert_complete(out)
    # Every frame was processed before the signal: the set is whole and not partial.
    assert m["run"]["frames_in"] == 2 and m["partial"] is False
    assert "outputs in" in log.read_text() and "complete" in log.read_text()
    assert temporaries(parent) == []


# ---------------------------------------------------------------------------- in-process runs
def test_a_failed_write_mid_set_keeps_the_earlier_set(seq_dir, old_set, tmp_path, monkeypatch):
    import real3d.mapping.export

    parent = tmp_path / "runs"
    parent.mkdir()
    out = copy_old_set(old_set, parent)
    before = snapshot(out)

    def disk_full(semantic_map, path, *a, **k):
        Path(path).write_bytes(b"ply\nformat ascii 1.0\n")  # a writer cut short
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(real3d.mapping.export, "export_point_cloud_ply", disk_full)
    r = CliRunner().invoke(app, ["run", str(seq_dir), "--out", str(out), "--max-frames", "2", *TINY])
    assert r.exit_code != 0
    assert isinstance(r.exception, OutputError), r.exception
    assert "No space left" in str(r.exception) and "semantic_map.ply" in str(r.exception)
    assert snapshot(out) == before  # path.json, written before the map, is the old one too
    assert temporaries(parent) == []


def test_a_new_set_replaces_the_old_one_whole(seq_dir, old_set, tmp_path):
    parent = tmp_path / "runs"
    parent.mkdir()
    out = copy_old_set(old_set, parent)
    (out / "report_files" / "old-only.png").write_bytes(b"an earlier picture")
    r = CliRunner().invoke(app, ["run", str(seq_dir), "--out", str(out), "--max-frames", "2", *TINY])
    assert r.exit_code == 0, r.output
    m = assert_complete(out)
    assert m["run"]["frames_in"] == 2 and m["partial"] is False and m["stopped_by"] is None
    assert not (out / "report_files" / "old-only.png").exists()
    assert temporaries(parent) == []


def test_stop_signals_first_stops_second_aborts_and_handlers_come_back(capfd):
    from real3d.cli.run_cmd import RunAborted, StopSignals

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopSignals() as sig:
        os.kill(os.getpid(), signal.SIGTERM)
        assert sig.event.wait(5) and sig.signame == "SIGTERM" and sig.exit_code == 143
        sig.committing = True  # the complete set is being swapped in: not cut
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        sig.committing = False
        with pytest.raises(RunAborted) as e:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises here
        assert e.value.signame == "SIGINT" and e.value.code == 130
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert "SIGTERM received" in capfd.readouterr().err


def run_main(monkeypatch, capsys, args) -> tuple[int, str]:
    """``real3d ARGS`` through the console entry point (error -> exit code mapping)."""
    from real3d.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["real3d", *args])
    with pytest.raises(SystemExit) as e:
        cli_main.main()
    return e.value.code, capsys.readouterr().err


@pytest.fixture
def no_work(monkeypatch):
    """Make opening the input or building a pipeline fail the test: --out must be refused
    first."""
    import real3d.cli.run_cmd as run_cmd

    def refuse(*a, **k):
        raise AssertionError("the run started before --out was checked")

    monkeypatch.setattr(run_cmd, "open_input", refuse)
    monkeypatch.setattr(run_cmd, "build_pipeline", refuse)


@pytest.mark.parametrize("case", ["file", "under_a_file", "foreign_files", "disk_full", "cwd"])
def test_a_bad_out_fails_before_any_work(seq_dir, tmp_path, monkeypatch, capsys, no_work, case):
    out = tmp_path / "out"
    expect = {
        "file": "got a file",
        "under_a_file": "is a file",
        "foreign_files": "notes.txt",
        "disk_full": "MiB free",
        "cwd": "current folder",
    }[case]
    if case == "file":
        out.write_text("not a folder")
    elif case == "under_a_file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "out"
    elif case == "foreign_files":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        (out / "metrics.json").write_text("{}")
    elif case == "disk_full":
        import shutil as shutil_mod

        usage = shutil_mod.disk_usage(tmp_path)
        monkeypatch.setattr(shutil_mod, "disk_usage", lambda p: usage._replace(free=1024))
    else:
        out.mkdir()
        monkeypatch.chdir(out)
    listing = sorted(os.listdir(tmp_path))
    code, err = run_main(monkeypatch, capsys, ["run", str(seq_dir), "--out", str(out), *TINY])
    assert code == 2
    assert err.startswith("real3d: error: output folder") and expect in err, err
    assert sorted(os.listdir(tmp_path)) == listing  # nothing made, nothing removed
    if case == "foreign_files":
        assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not apply to root")
@pytest.mark.parametrize("existing", [False, True])
def test_a_read_only_out_fails_before_any_work(seq_dir, tmp_path, monkeypatch, capsys, no_work, existing):
    ro = tmp_path / "ro"
    ro.mkdir()
    out = ro / "out"
    if existing:
        out.mkdir()
        os.chmod(out, 0o500)
    else:
        os.chmod(ro, 0o500)
    try:
        code, err = run_main(monkeypatch, capsys, ["run", str(seq_dir), "--out", str(out), *TINY])
    finally:
        os.chmod(ro, 0o700)
        if existing:
            os.chmod(out, 0o700)
    assert code == 2 and "cannot write" in err, err


# ---------------------------------------------------------------------------- temporaries
def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_killed_runs_are_removed_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    dead = dead_pid()
    stale = [tmp_path / f".out.tmp-{dead}-ab12_c", tmp_path / f".out.old-{dead}-0f0f"]
    kept = [
        tmp_path / f".out.tmp-{os.getppid()}-abc",  # a run still going
        tmp_path / f".other.tmp-{dead}-abc",  # another folder's
        tmp_path / f".out.tmp-{dead}-abc.bak",  # not the pattern
    ]
    for d in stale + kept:
        d.mkdir()
        (d / "x").write_text("x")
    with atomic_dir(out) as tmp:
        (tmp / "metrics.json").write_text('{"new": 1}')
    assert json.loads((out / "metrics.json").read_text()) == {"new": 1}
    assert all(not d.exists() for d in stale)
    assert all(d.is_dir() for d in kept)
    assert sorted(e.name for e in tmp_path.iterdir()) == sorted(["out", *(d.name for d in kept)])


def test_a_swap_cut_between_its_renames_is_undone(tmp_path):
    """Killed after the earlier folder was renamed aside and before the new one came in:
    the earlier folder is the last whole set, and comes back."""
    out = tmp_path / "out"
    aside = tmp_path / f".out.old-{dead_pid()}-1234"
    aside.mkdir()
    (aside / "metrics.json").write_text('{"old": 1}')
    assert remove_stale_temporaries(out) == []
    assert json.loads((out / "metrics.json").read_text()) == {"old": 1}
    assert not aside.exists()


def test_an_output_set_that_is_not_committed_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), OutputSet(out) as outs:
        (outs.staging / "path.json").write_text("{}")
        raise RuntimeError("the run failed")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- realtime replay
def realtime_pipeline(**kw):
    from real3d.pipeline import Pipeline, PipelineConfig

    return Pipeline(PipelineConfig(model=None, rgb_model=None, mode="realtime", graph_every=0, costmap_every=0, **kw))


def test_an_hour_long_timestamp_gap_is_capped_and_reported(frames):
    times = [0.0, 0.05, 3600.05, 3600.1]
    fr = [frames.frames[k % 3].replace(index=k, timestamp_s=t) for k, t in enumerate(times)]
    pipe = realtime_pipeline(max_gap_s=0.2, queue_size=8)
    t0 = time.perf_counter()
    s = pipe.run(fr)
    assert time.perf_counter() - t0 < 5.0
    assert s.counts["fused"] == 4 and not s.stopped
    assert s.n_gaps == 1 and len(s.gaps) == 1
    assert s.gaps[0][0] == 2 and s.gaps[0][1] == pytest.approx(3600.0)
    d = s.to_dict()
    assert d["n_gaps"] == 1 and d["gaps"][0]["index"] == 2


def test_a_stop_during_a_realtime_wait_is_honoured_at_once(frames):
    fr = [frames.frames[k].replace(index=k, timestamp_s=30.0 * k) for k in range(3)]
    pipe = realtime_pipeline(max_gap_s=60.0)  # the replay waits 30 s for frame 1
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    t0 = time.perf_counter()
    try:
        s = pipe.run(fr, stop=stop)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 3.0
    assert s.stopped and s.frames_in == 1 and s.counts["fused"] == 1 and s.n_gaps == 0
    assert s.to_dict()["stopped"] is True


def test_a_stop_from_on_result_ends_an_offline_run(frames):
    from real3d.pipeline import Pipeline, PipelineConfig

    fr = [frames.frames[k % 3].replace(index=k) for k in range(30)]
    pipe = Pipeline(PipelineConfig(model=None, rgb_model=None, graph_every=0, costmap_every=0))
    stop = threading.Event()
    seen = []

    def on_result(res, frame):
        seen.append(res.status)
        stop.set()

    s = pipe.run(fr, on_result=on_result, stop=stop)
    assert s.stopped and s.frames_in < 30
    assert len(seen) == s.frames_in  # every frame taken has its result
    assert set(seen) <= {"fused", "dropped"} and s.counts["fused"] >= 1
    # A stop set before the run begins takes no frame at all.
    assert pipe.run(fr, stop=stop).frames_in == 0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_max_gap_must_be_positive(bad):
    from real3d.pipeline import PipelineConfig

    with pytest.raises(ConfigError, match="max_gap_s"):
        PipelineConfig(max_gap_s=bad)
