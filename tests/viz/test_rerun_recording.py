"""The rerun recording of a run (real3d.viz.rerun_log): read back from the .rrd, the
viewer options, a live viewer that goes away, and the CLI's --viewer checks."""

import collections
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from real3d.core.errors import ConfigError
from real3d.viz import rerun_log
from real3d.viz import scene_entities as se
from real3d.viz.rerun_log import RerunLogger, ViewerOptions


def read_recording(path) -> tuple[dict, dict]:
    """``({entity path: rows}, {entity path: [record batches]})`` of the non-static data of
    an .rrd file (static rows counted under ``"static:" + path``)."""
    pytest.importorskip("rerun")
    try:
        from rerun.chunk import RrdReader
    except ImportError:
        pytest.skip("this rerun-sdk has no rerun.chunk.RrdReader to read recordings back")
    rows, batches = collections.Counter(), collections.defaultdict(list)
    for chunk in RrdReader(str(path)).stream():
        key = ("static:" if chunk.is_static else "") + chunk.entity_path
        rows[key] += chunk.num_rows
        batches[key].append(chunk.to_record_batch())
    return dict(rows), batches


def column(batches, name) -> list:
    """Values of column ``name`` over ``batches`` in row order."""
    out = []
    for b in batches:
        out += b.column(b.schema.get_field_index(name)).to_pylist()
    return out


# ---------------------------------------------------------------------------- options
def test_viewer_options_name_what_is_valid():
    with pytest.raises(ConfigError, match="save | spawn | connect | none"):
        ViewerOptions(mode="window")
    with pytest.raises(ConfigError, match="--viewer connect"):
        ViewerOptions(mode="spawn", url="rerun+http://127.0.0.1:9876/proxy")
    with pytest.raises(ConfigError, match="rerun gRPC URL"):
        ViewerOptions(mode="connect", url="http://localhost:9876")
    with pytest.raises(ConfigError, match="map_every"):
        ViewerOptions(map_every=0)
    assert rerun_log.parse_viewer_url("rerun+http://10.0.0.5:9000/proxy") == ("10.0.0.5", 9000)
    assert rerun_log.parse_viewer_url("rerun+https://viewer.example.org/proxy") == ("viewer.example.org", 443)
    assert ViewerOptions(mode="connect").live_url == rerun_log.DEFAULT_VIEWER_URL
    assert ViewerOptions(mode="save").live_url is None


def test_the_latency_plot_has_a_series_per_pipeline_stage():
    from real3d.pipeline.config import STAGES

    assert rerun_log.LATENCY_SERIES == (*STAGES, "total")


def test_a_requested_viewer_without_rerun_fails_and_the_default_only_notes_it(monkeypatch):
    monkeypatch.setattr(rerun_log, "rerun_available", lambda: False)
    for mode in ("spawn", "connect", "save"):
        with pytest.raises(ConfigError, match=r"pip install 'real3d\[viz\]'"):
            ViewerOptions(mode=mode, requested=True).check()
    assert ViewerOptions().check() is False  # the default: no recording, no error
    assert ViewerOptions(mode="none", requested=True).check() is False
    assert RerunLogger.create("x.rrd", ViewerOptions()) is None


def test_run_with_viewer_spawn_and_no_rerun_exits_non_zero_before_any_work(monkeypatch, tmp_path, capsys):
    from real3d.cli import main as cli_main

    monkeypatch.setattr(rerun_log, "rerun_available", lambda: False)
    out = tmp_path / "out"
    monkeypatch.setattr(
        "sys.argv", ["real3d", "run", str(tmp_path / "missing"), "--out", str(out), "--viewer", "spawn"]
    )
    with pytest.raises(SystemExit) as e:
        cli_main.main()
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert "--viewer spawn" in err and "pip install 'real3d[viz]'" in err
    assert not out.exists()  # nothing was made: it failed before the input was opened
    r = CliRunner().invoke(cli_main.app, ["demo", "--out", str(out), "--viewer", "connect"])
    assert r.exit_code != 0 and isinstance(r.exception, ConfigError) and not out.exists()


# ---------------------------------------------------------------------------- recording
N_FRAMES = 8


def record(path, options: ViewerOptions, budget_ms: float = float("inf")):
    """A pipeline run over 8 toy frames (the frames' own labels, no network) logged into
    ``path``; graph and costmap refreshed every 3 fused frames; times from 100 s on.
    ``budget_ms``: ``MAP_LOG_BUDGET_MS`` during the run (default: no doubling of the map
    period, whatever this machine's speed)."""
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.testing.toyscene import toy_sequence

    frames = [f.replace(timestamp_s=100.0 + 0.5 * i) for i, f in enumerate(toy_sequence(0, N_FRAMES, (48, 64)).frames)]
    pipe = Pipeline(
        PipelineConfig(model=None, rgb_model=None, graph_every=3, costmap_every=3, background_refresh=False)
    )
    log = RerunLogger(path, options)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rerun_log, "MAP_LOG_BUDGET_MS", budget_ms)
        pipe.run(frames, on_result=lambda res, frame: log.log_frame(res, frame, pipe))
    path_info = {"waypoints": [[0.0, 0.0], [1.0, 0.5], [1.5, 1.5]], "goal_xy": [1.5, 1.5]}
    assert log.finish(pipe, path_info) == path
    return pipe, log


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """``record`` with images every 2nd frame and the map every 3rd fused frame."""
    pytest.importorskip("rerun")
    path = tmp_path_factory.mktemp("rec") / "recording.rrd"
    pipe, _ = record(path, ViewerOptions(image_every=2, map_every=3))
    rows, batches = read_recording(path)
    return pipe, path, rows, batches


def test_the_recording_holds_every_entity_at_its_rate(recorded):
    pipe, path, rows, _ = recorded
    assert path.is_file() and not (path.parent / ".recording.rrd.tmp").exists()
    assert rows["static:/"] == 1  # the class names and colours
    assert rows["/world/camera"] == N_FRAMES  # the pose of every frame
    for image in ("rgb", "depth", "labels"):
        assert rows[f"/world/camera/image/{image}"] == N_FRAMES // 2, image
    assert rows["static:/world/camera/image"] == 1  # one pinhole: the intrinsics never changed
    assert rows["/world/map"] == N_FRAMES // 3 + 1  # every 3rd fused frame, then the final map
    # two periodic refreshes (after 3 and 6 fused frames) and the final state
    for e in ("/world/scene_graph/objects", "/world/scene_graph/relations", "/world/costmap", "/costmap"):
        assert rows[e] == 3, e
    assert rows["/world/path"] == 1 and rows["/world/path/goal"] == 1
    assert rows["/world/trajectory"] == N_FRAMES // 2 - 1  # from the 2nd image on (two positions)
    assert rows["/stats/latency_ms"] == N_FRAMES  # one row of all stages per frame


def test_the_recording_is_on_the_frame_and_time_timelines(recorded):
    _, _, _, batches = recorded
    cam = batches["/world/camera"]
    assert column(cam, "frame") == list(range(N_FRAMES))
    times = column(cam, "time")
    seconds = [t.total_seconds() if hasattr(t, "total_seconds") else t / 1e9 for t in times]
    np.testing.assert_allclose(seconds, 100.0 + 0.5 * np.arange(N_FRAMES))


def test_the_final_boxes_map_and_path_are_the_pipelines(recorded):
    pipe, _, _, batches = recorded
    b = se.box_entities(pipe.scene_graph, "object")
    assert len(b) >= 1
    centers = column(batches["/world/scene_graph/objects"], "Boxes3D:centers")[-1]
    np.testing.assert_allclose(np.asarray(centers), b.centers, atol=1e-5)
    labels = column(batches["/world/scene_graph/objects"], "Boxes3D:labels")[-1]
    assert labels == b.labels
    pts = np.asarray(column(batches["/world/map"], "Points3D:positions")[-1])
    assert pts.shape == (se.map_points(pipe.map).total, 3)
    ids = np.asarray(column(batches["/world/map"], "Points3D:class_ids")[-1])
    assert ids.min() >= 1 and ids.max() <= 13
    strip = column(batches["/world/path"], "LineStrips3D:strips")[-1]
    np.testing.assert_allclose(np.asarray(strip[0])[:, :2], [[0, 0], [1, 0.5], [1.5, 1.5]], atol=1e-6)
    rel = se.relation_segments(pipe.scene_graph)
    strips = column(batches["/world/scene_graph/relations"], "LineStrips3D:strips")[-1]
    assert len(strips) == len(rel)
    cam = np.asarray(column(batches["/world/camera"], "Transform3D:translation")[-1])
    np.testing.assert_allclose(cam.reshape(3), pipe.trajectory[-1], atol=1e-5)


def test_a_map_log_over_budget_doubles_the_map_period(tmp_path):
    pytest.importorskip("rerun")
    path = tmp_path / "recording.rrd"
    _, log = record(path, ViewerOptions(map_every=1), budget_ms=0.0)
    # logged after fused frames 1, 3 and 7 (the period 1 -> 2 -> 4 -> 8), then the final map
    assert log.map_every == 8
    rows, batches = read_recording(path)
    assert rows["/world/map"] == 4
    assert column(batches["/world/map"], "frame") == [0, 2, 6, N_FRAMES - 1]


# ---------------------------------------------------------------------------- live viewer
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rerun_server(port: int) -> subprocess.Popen:
    """A headless rerun gRPC server (the rerun-sdk's own binary) on ``port``."""
    import rerun_cli

    exe = Path(rerun_cli.__file__).parent / "rerun"
    if not exe.is_file():
        pytest.skip("the rerun-sdk ships no rerun binary here")
    proc = subprocess.Popen(
        [str(exe), "--serve-grpc", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    end = time.monotonic() + 20
    while not rerun_log.viewer_answers("127.0.0.1", port):
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            pytest.skip("the rerun gRPC server did not start")
        time.sleep(0.1)
    return proc


def _empty_pipeline():
    from real3d.pipeline import Pipeline, PipelineConfig

    return Pipeline(PipelineConfig(model=None, rgb_model=None))


def _no_frame(k: int):
    from real3d.pipeline.results import StepResult

    return StepResult(k, 0.0, "skipped", latency_ms={"total": 1.0})


def test_a_viewer_that_goes_away_is_reported_once_and_the_recording_goes_on(tmp_path, monkeypatch):
    pytest.importorskip("rerun")
    monkeypatch.setattr(rerun_log, "VIEWER_CHECK_S", 0.0)  # check at every frame
    port = _free_port()
    proc = _rerun_server(port)
    messages = []
    path = tmp_path / "recording.rrd"
    pipe = _empty_pipeline()
    try:
        opts = ViewerOptions(mode="connect", url=f"rerun+http://127.0.0.1:{port}/proxy")
        log = RerunLogger(path, opts, report=messages.append)
        assert log.check_viewer(force=True) is True and messages == []
        for k in range(7):
            if k == 3:
                proc.kill()
                proc.wait()
            log.log_frame(_no_frame(k), None, pipe)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(messages) == 1 and f"127.0.0.1:{port}" in messages[0] and "goes on" in messages[0]
    assert log.finish(pipe) == path  # closing over the severed connection does not fail
    assert len(messages) == 1
    rows, _ = read_recording(path)
    assert rows["/stats/latency_ms"] == 7  # every frame, before and after the viewer went


def test_a_viewer_that_cannot_be_spawned_is_reported_once_and_the_file_is_saved(tmp_path, monkeypatch):
    rr = pytest.importorskip("rerun")

    def fail(self, **kw):
        raise RuntimeError("no rerun executable")

    monkeypatch.setattr(rr.RecordingStream, "spawn", fail)
    messages = []
    path = tmp_path / "recording.rrd"
    pipe = _empty_pipeline()
    log = RerunLogger(path, ViewerOptions(mode="spawn"), report=messages.append)
    for k in range(3):
        log.log_frame(_no_frame(k), None, pipe)
    assert log.finish(pipe) == path
    assert len(messages) == 1 and "could not start a viewer" in messages[0]
    assert read_recording(path)[0]["/stats/latency_ms"] == 3


def test_connect_with_no_viewer_listening_is_reported_at_the_start(tmp_path):
    pytest.importorskip("rerun")
    messages = []
    url = f"rerun+http://127.0.0.1:{_free_port()}/proxy"
    log = RerunLogger(tmp_path / "recording.rrd", ViewerOptions(mode="connect", url=url), report=messages.append)
    log.abort()
    assert len(messages) == 1 and url in messages[0]
    assert not (tmp_path / ".recording.rrd.tmp").exists()
