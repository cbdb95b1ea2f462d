"""Background refreshes of the scene graph and costmap (real3d.pipeline.refresh), the
default backend and the thread layout (real3d.pipeline.config / segment)."""

import threading
import time

import numpy as np
import pytest

import real3d.pipeline.runner as runner
from real3d.core import ConfigError
from real3d.pipeline import (
    Pipeline,
    PipelineConfig,
    auto_backend,
    intra_op_threads,
    load_segmenter,
    snapshot_map,
)
from real3d.pipeline.refresh import run_refresh
from real3d.synth import TextureBank, generate_sequence

HW = (60, 80)


@pytest.fixture(scope="module")
def seq():
    return generate_sequence(2, 12, size=HW, bank=TextureBank(0))


def make(map_refiner=None, **kw):
    """A pipeline without a network: each frame fuses its own (ground-truth) labels."""
    kw.setdefault("graph_every", 3)
    kw.setdefault("costmap_every", 3)
    return Pipeline(PipelineConfig(model=None, rgb_model=None, **kw), map_refiner=map_refiner)


class TableRefiner:
    """A map refiner that calls every labelled voxel a table (class 10)."""

    def __init__(self):
        self.maps = []

    def refine(self, m):
        from real3d.core.refinement import MapRefinement

        self.maps.append(m)
        labels, conf = m.fused_labels()
        labels = np.where(labels > 0, 10, 0).astype(np.uint8)
        m.set_refinement(MapRefinement(labels, conf, None, m.version, "table"))


def map_arrays(p):
    return {k: v.copy() for k, v in p.map.voxel_arrays().items()}


def slow_refresh(monkeypatch, seconds):
    def slow(*args):
        time.sleep(seconds)
        return run_refresh(*args)

    monkeypatch.setattr(runner, "run_refresh", slow)


def refresh_threads():
    return [t for t in threading.enumerate() if t.name.startswith("real3d-refresh")]


def test_offline_background_equals_synchronous_and_is_deterministic(seq):
    outs = []
    for background in (False, True, True):
        p = make(background_refresh=background)
        steps = [p.step(f) for f in seq]
        out = {"step": ([r.labels for r in steps], [r.n_objects for r in steps], map_arrays(p))}
        out["step_graph"] = p.scene_graph.to_dict()
        p.reset()
        ran = []
        s = p.run(seq, on_result=lambda r, f: ran.append((r.labels, r.n_objects)))
        out.update(
            run=([a for a, _ in ran], [b for _, b in ran], map_arrays(p)),
            graph=p.scene_graph.to_dict(),
            cost=p.costmap.cost.copy(),
            summary=s,
        )
        outs.append(out)
        p.close()
    sync, bg, bg2 = outs
    for other in (bg, bg2):
        for key in ("step", "run"):
            for a, b in zip(sync[key][0], other[key][0]):
                np.testing.assert_array_equal(a, b)
            for k in sync[key][2]:
                np.testing.assert_array_equal(sync[key][2][k], other[key][2][k])
        assert other["step_graph"] == sync["step_graph"]  # node ids, labels and boxes alike
        assert other["graph"] == sync["graph"]
        np.testing.assert_array_equal(other["cost"], sync["cost"])
    # offline, what a frame reports is fixed by the frame count, not by the worker's speed
    assert bg["step"][1] == bg2["step"][1] and bg["run"][1] == bg2["run"][1] == bg["step"][1]
    assert bg["summary"].counts == sync["summary"].counts
    # each refresh reports its own latency, on and off the frame path
    for o in outs:
        r = o["summary"].refresh_percentiles()
        assert r["graph"]["count"] == r["costmap"]["count"] == len(seq) // 3 > 0
        assert r["graph"]["p50"] > 0 and "refresh_ms" in o["summary"].to_dict()
    assert len(bg["summary"].refresh_ms["snapshot"]) == len(seq) // 3
    # the per-stage table keeps a graph / costmap row wherever they ran
    for o in (sync, bg):
        pct, ref = o["summary"].latency_percentiles(), o["summary"].refresh_percentiles()
        assert pct["graph"]["p50"] == pytest.approx(ref["graph"]["p50"])
        assert pct["costmap"]["p95"] == pytest.approx(ref["costmap"]["p95"])
    assert "refresh" in bg["summary"].latency_percentiles() and "refresh" not in sync["summary"].latency_percentiles()
    assert len(sync["summary"].refresh_ms["snapshot"]) == 0


def test_the_map_refiner_runs_on_the_snapshot_and_its_labels_reach_the_map(seq):
    graphs = []
    for background in (False, True):
        refiner = TableRefiner()
        p = make(map_refiner=refiner, refine_every=3, background_refresh=background)
        p.run(seq)
        assert p.map.refinement is not None and p.map.refinement.source == "table"
        assert any(m is not p.map for m in refiner.maps) == background  # in the background: a snapshot
        g = p.scene_graph.to_dict()
        assert {n["class_name"] for n in g["nodes"] if n["kind"] == "object"} <= {"table"}
        graphs.append(g)
        p.close()
    assert graphs[0] == graphs[1]


def test_refresh_runs_off_the_frame_path_and_is_never_stale(seq, monkeypatch):
    sleep_s = 0.6
    slow_refresh(monkeypatch, sleep_s)
    every = 3
    p = make(mode="realtime", graph_every=every, costmap_every=every)
    seen = []
    for f in seq:
        t0 = time.perf_counter()
        r = p.step(f)
        dt = time.perf_counter() - t0
        n = p.frames_fused
        due = n % every == 0
        if not due:
            # the worker sleeps for sleep_s: a frame that waited for it would show it
            assert dt < sleep_s / 2, (n, dt)
        elif n >= 2 * every:
            # a refresh is due: it is handed over, and the previous one is in place
            assert p.refreshed_at["graph"] >= n - every
        last_due = n - n % every
        if last_due >= 2 * every:
            assert p.refreshed_at["graph"] >= last_due - every  # at most one period late
        seen.append((n, p.refreshed_at["graph"], r.n_objects))
    assert p.refresh_waits >= 1  # 0.6 s per refresh is longer than three tiny frames
    time.sleep(sleep_s + 0.2)
    p.step(seq[-1].replace(index=99))  # realtime: a finished refresh is taken at the next frame
    assert p.refreshed_at["graph"] == len(seq) - len(seq) % every
    # results of the worker were used by the steps, without any on-demand call
    assert any(at > 0 and k > 0 for _, at, k in seen)
    p.close()


def test_offline_results_are_put_in_place_at_fixed_frames(seq, monkeypatch):
    slow_refresh(monkeypatch, 0.2)
    p = make(graph_every=4, costmap_every=4)  # published half a period after: frame 6, 10
    at = []
    for f in seq:
        p.step(f)
        at.append(p.refreshed_at["graph"])
    assert at[:6] == [-1] * 5 + [4] and at[9] == 8 and at[10] == 8 and at[11] == 8
    assert p.refresh_waits in (1, 2)  # the worker sleeps longer than two tiny frames take
    p.close()


def test_on_demand_results_are_fresh_and_handed_out_graphs_stay_put(seq):
    p = make(graph_every=4, costmap_every=4)
    for f in seq[:7]:
        p.step(f)
    g = p.scene_graph
    assert g.map_version == p.map.version and p.refreshed_at["graph"] == 7
    cm = p.costmap
    assert cm is not None and p.refreshed_at["costmap"] == 7
    before = g.to_dict()
    for f in seq[7:]:
        p.step(f)
    p.close()  # publishes the refresh due at frame 12 (8 was published at 10)
    assert p.refreshed_at["graph"] == 12
    assert g.to_dict() == before and g.map_version != p.map.version  # a copy, not the live one
    assert p.scene_graph.map_version == p.map.version


def test_worker_errors_are_noted_not_raised(seq, monkeypatch):
    def broken(*args):
        raise RuntimeError("no memory for the graph")

    monkeypatch.setattr(runner, "run_refresh", broken)
    p = make()
    with pytest.warns(UserWarning, match="no memory for the graph"):
        results = [p.step(f) for f in seq]
        s = p.run(seq[:6])
    assert all(r.status == "fused" for r in results)
    assert "RuntimeError: no memory for the graph" in p.notes["refresh"]
    assert p.refresh_errors >= 4 and s.refresh_errors >= 1
    assert p.refreshed_at["graph"] == -1  # nothing was put in place
    monkeypatch.setattr(runner, "run_refresh", run_refresh)
    assert p.scene_graph.map_version == p.map.version  # on demand it still works
    p.close()


def test_close_ends_the_worker_and_reset_drops_its_job(seq, monkeypatch):
    before = len(refresh_threads())
    slow_refresh(monkeypatch, 0.2)
    with make() as p:
        for f in seq[:3]:
            p.step(f)
        assert p._pending is not None and len(refresh_threads()) == before + 1
        p.reset()  # the job belongs to the map just forgotten
        assert p._pending is None and p.refreshed_at["graph"] == -1 and len(p.map) == 0
        for f in seq[:3]:
            p.step(f)
    assert len(refresh_threads()) == before and p.refreshed_at["graph"] == 3
    p.step(seq[3])  # a closed pipeline still works
    p.close()


@pytest.mark.parametrize("background", [False, True])
def test_incremental_costmaps_equal_a_full_rebuild_of_the_same_map(seq, background):
    from real3d.nav.costmap import build_costmap

    p = make(background_refresh=background)
    incremental = 0
    for f in seq:
        p.step(f)
        cm = p.costmap
        incremental += not p._costmap_builder.last_full
        g = p._work_graph
        built = g.map_version >= 0
        full = build_costmap(
            p.map,
            p.config.costmap,
            floor_z_m=g.floor_z_m if built else 0.0,
            objects=g.objects() if built else None,
            center_xy=p.trajectory[-1][:2] if p.trajectory else None,
        )
        np.testing.assert_array_equal(cm.cost, full.cost)
        np.testing.assert_array_equal(cm.grid.occupied, full.grid.occupied)
        np.testing.assert_array_equal(cm.grid.free, full.grid.free)
    assert incremental >= len(seq) // 2  # the map kept its origin: most updates were partial
    p.close()


def test_snapshot_is_a_copy_that_later_fusion_leaves_alone(seq):
    p = make(graph_every=0, costmap_every=0)
    for f in seq[:4]:
        p.step(f)
    before = map_arrays(p)
    pts = p.map.semantic_points()
    occupancy = p.map.query_occupancy(pts.points)
    snap = snapshot_map(p.map)
    assert type(snap) is type(p.map) and snap.version == p.map.version and len(snap) == len(p.map)
    for f in seq[4:]:
        p.step(f)
    assert len(p.map) > len(snap)
    after = snap.voxel_arrays()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    sp = snap.semantic_points()
    np.testing.assert_array_equal(sp.points, pts.points)
    np.testing.assert_array_equal(sp.labels, pts.labels)
    np.testing.assert_array_equal(snap.query_occupancy(pts.points), occupancy)  # the hashes were copied too


@pytest.mark.parametrize(
    "kw",
    [
        {"backend": "tensorrt"},
        {"backend": "INT8"},
        {"backend": ""},
        {"backend": None},
        {"threads": 0},
        {"threads": -2},
        {"threads": 1.5},
        {"threads": "two"},
        {"threads": "AUTO"},
        {"threads": True},
        {"background_refresh": "yes"},
        {"background_refresh": 1},
    ],
)
def test_bad_backend_threads_and_refresh_settings_raise_config_error(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        PipelineConfig(**kw)


def test_defaults_are_auto():
    c = PipelineConfig()
    assert c.backend == "auto" and c.threads == "auto" and c.background_refresh is True
    assert PipelineConfig(threads=3).resolved_threads() == 3 and PipelineConfig(threads=None).resolved_threads() is None


def test_thread_layout_follows_the_core_count(monkeypatch):
    assert [intra_op_threads(c) for c in (1, 2, 3, 4, 6, 10, 64)] == [1, 1, 1, 2, 4, 8, 8]
    for bad in (0, -1, 2.0, None):
        with pytest.raises(ConfigError):
            intra_op_threads(bad)
    import real3d.pipeline.config as config

    monkeypatch.setattr(config, "available_cores", lambda: 2)
    assert PipelineConfig().resolved_threads() == 1  # two cores: the fusion thread keeps its own
    monkeypatch.setattr(config, "available_cores", lambda: 12)
    assert PipelineConfig().resolved_threads() == 8


def test_auto_backend_is_int8_for_weights_from_a_file(tmp_path, monkeypatch):
    import importlib.util

    import real3d.models as models
    from real3d.models import build_model, load_weights, save_weights

    preset = build_model("rgbd-tiny").eval()
    assert auto_backend(preset) == "torch"  # random weights: exported on every build
    carded = load_weights(save_weights(preset, tmp_path / "m.safetensors"))
    has_ort = all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))
    assert auto_backend(carded) == ("int8" if has_ort else "torch")

    calls = []

    def fake_create(spec, backend, **kw):
        calls.append(backend)
        return carded if backend == "torch" else ("ort", backend)

    monkeypatch.setattr(models, "create_model", fake_create)
    cfg = PipelineConfig(cache_dir=str(tmp_path), threads=1)
    got = load_segmenter("whatever.safetensors", "auto", cfg)
    assert calls == (["torch", "int8"] if has_ort else ["torch"])
    assert got == (("ort", "int8") if has_ort else carded)
    if has_ort:

        def failing_export(spec, backend, **kw):
            if backend != "torch":
                raise OSError("read-only cache folder")
            return carded

        monkeypatch.setattr(models, "create_model", failing_export)
        with pytest.warns(UserWarning, match="read-only cache folder"):
            assert load_segmenter("whatever.safetensors", "auto", cfg) is carded  # torch, said out loud
    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "onnxruntime" else real_find(m, *a))
    assert auto_backend(carded) == "torch"  # without onnxruntime the network runs in torch
    with pytest.raises(ConfigError, match="valid: auto, torch, onnx, int8"):
        load_segmenter("whatever.safetensors", "fast", cfg)
