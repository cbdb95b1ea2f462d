import time

import numpy as np
import pytest
import torch

import real3d
from real3d.core import ConfigError, FormatError, InputError
from real3d.models import build_model
from real3d.pipeline import Pipeline, PipelineConfig, StepResult, check_frame, load_segmenter
from real3d.synth import TextureBank, generate_sequence

HW = (60, 80)


@pytest.fixture(scope="module")
def seq():
    return generate_sequence(2, 8, size=HW, bank=TextureBank(0))


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return build_model("rgbd-tiny").eval(), build_model("rgb-tiny").eval()


def make(nets, **kw):
    kw.setdefault("graph_every", 4)
    kw.setdefault("costmap_every", 4)
    return Pipeline(PipelineConfig(**kw), segmenter=nets[0], rgb_segmenter=nets[1])


def map_state(p):
    a = p.map.voxel_arrays()
    return {k: v.copy() for k, v in a.items()}


def test_lazy_export():
    assert real3d.Pipeline is Pipeline


def test_offline_run_is_deterministic_and_equals_step(seq, nets):
    runs = []
    for _ in range(2):
        p = make(nets)
        labels = []
        s = p.run(seq, on_result=lambda r, f, out=labels: out.append(r.labels))
        assert s.counts["fused"] == len(seq) and s.frames_in == len(seq)
        runs.append((map_state(p), labels, p.scene_graph.to_dict()))
    p = make(nets)
    stepped = [p.step(f) for f in seq]
    assert all(isinstance(r, StepResult) and r.status == "fused" for r in stepped)
    runs.append((map_state(p), [r.labels for r in stepped], p.scene_graph.to_dict()))
    ref = runs[0]
    for other in runs[1:]:
        assert ref[0].keys() == other[0].keys()
        for k in ref[0]:
            np.testing.assert_array_equal(ref[0][k], other[0][k])
        for a, b in zip(ref[1], other[1]):
            np.testing.assert_array_equal(a, b)
        assert ref[2] == other[2]


class _Injected:
    """A sequence with bad frames at fixed positions; position 3 fails to read."""

    def __init__(self, frames):
        self.frames = frames

    def __len__(self):
        return len(self.frames) + 1

    def __getitem__(self, i):
        if i == 3:
            raise FormatError("color/000003.png: truncated PNG")
        f = self.frames[i if i < 3 else i - 1]
        if i == 1:  # NaN written into the depth after the Frame was validated
            d = f.depth_m.copy()
            f = f.replace(depth_m=d)
            d[5:9, 5:9] = np.nan
        elif i == 2:
            f = generate_sequence(2, 1, size=(40, 56))[0]
        elif i == 4:
            f = f.replace(world_T_cam=None)
        return f


def test_bad_frames_are_skipped_and_reported(seq, nets):
    p = make(nets)
    results = []
    s = p.run(_Injected(seq.frames), on_result=lambda r, f: results.append(r))
    assert s.frames_in == len(seq) + 1 and len(results) == s.frames_in
    reasons = dict(s.skipped)
    assert set(reasons) == {1, 2, 3, 4}
    assert "NaN" in reasons[1]
    assert "wrong size" in reasons[2]
    assert "truncated" in reasons[3]
    assert "missing pose" in reasons[4]
    assert s.counts["fused"] == len(seq) + 1 - 4
    assert [r.index for r in results] == list(range(len(seq) + 1))
    assert p.frames_fused == s.counts["fused"]


def test_missing_depth_uses_rgb_model_and_skips_fusion(seq, nets):
    p = make(nets)
    p.step(seq[0])
    v = p.map.version
    r = p.step(seq[1].replace(depth_m=None))
    assert r.status == "rgb_only" and r.model == "rgb" and r.reason == "no depth"
    assert r.labels.shape == HW and p.map.version == v
    r = p.step(seq[2].replace(depth_m=np.zeros(HW, np.float32)))
    assert r.status == "rgb_only" and "depth failed" in r.reason and p.map.version == v
    p2 = make(nets, rgb_model=None)
    p2.rgb_segmenter = None
    r = p2.step(seq[1].replace(depth_m=None))
    assert r.status == "skipped" and "rgb_model" in r.reason


def test_check_frame_catches_mutations(seq):
    f = seq[0]
    assert check_frame(f) is None
    assert "not a real3d.Frame" in check_frame("frame")
    g = f.replace(depth_m=f.depth_m.copy())
    g.depth_m[0, 0] = -1
    assert "negative" in check_frame(g)
    assert "wrong size" in check_frame(f, (10, 10))


class _Wrapped:
    """A segmenter around a network: the contract's attributes come from the network."""

    def __init__(self, net):
        self.net = net

    def __getattr__(self, name):
        return getattr(self.net, name)


class _SlowSegmenter(_Wrapped):
    def __init__(self, net, delay_s):
        super().__init__(net)
        self.delay_s = delay_s

    def predict(self, frame):
        time.sleep(self.delay_s)
        return self.net.predict(frame)


def test_realtime_drop_policy_counts_every_frame(seq, nets):
    slow = _SlowSegmenter(nets[0], 0.05)
    p = Pipeline(
        PipelineConfig(mode="realtime", source_fps=200.0, queue_size=1, graph_every=0, costmap_every=0),
        segmenter=slow,
        rgb_segmenter=nets[1],
    )
    seen = []
    s = p.run(seq, on_result=lambda r, f: seen.append(r.index))
    assert s.counts["dropped"] > 0 and s.counts["fused"] > 0
    assert sum(s.counts.values()) == s.frames_in == len(seq)
    assert seen == list(range(len(seq)))  # results in stream order, dropped ones included
    assert len(s.dropped) == s.counts["dropped"]


def test_realtime_keyframe_policy_keeps_moving_frames(seq, nets):
    slow = _SlowSegmenter(nets[0], 0.05)
    still = [seq[0].replace(index=i, timestamp_s=i / 200) for i in range(6)]
    p = Pipeline(
        PipelineConfig(
            mode="realtime",
            overload_policy="keyframe",
            source_fps=200.0,
            queue_size=1,
            graph_every=0,
            costmap_every=0,
        ),
        segmenter=slow,
        rgb_segmenter=nets[1],
    )
    s = p.run(still)
    # the first frame is a keyframe; the camera never moves, so later ones are dropped when
    # the queue is full
    assert s.counts["dropped"] >= 1 and 0 not in s.dropped
    assert sum(s.counts.values()) == 6


def test_costmap_graph_and_plan(seq, nets):
    p = make(nets)
    p.run(seq)
    assert p.costmap is not None and p.costmap.cost.ndim == 2
    assert p.scene_graph.to_dict()["schema"] == "real3d.scene_graph"
    from real3d.viz.report import auto_goal

    goal = auto_goal(p.costmap, p.trajectory[-1][:2])
    assert goal is not None
    path = p.plan(goal)
    assert np.allclose(path.waypoints[-1], goal) and path.length_m > 0


def test_onnx_and_int8_backends_agree_with_torch(seq, nets, tmp_path):
    cfg = PipelineConfig(cache_dir=str(tmp_path), calibration_frames=2)
    ref = nets[0].predict(seq[0]).labels
    fp32 = load_segmenter(nets[0], "onnx", cfg)
    assert (fp32.predict(seq[0]).labels == ref).mean() > 0.98
    int8 = load_segmenter(nets[0], "int8", cfg)
    assert int8.precision == "int8"
    assert int8.predict(seq[0]).labels.shape == HW
    # random-init weights leave nothing behind; weights from a file are cached by content
    assert list((tmp_path / "onnx").iterdir()) == []
    from real3d.models import load_weights, save_weights

    net = load_weights(save_weights(nets[0], tmp_path / "w" / "m.safetensors"))
    load_segmenter(net, "onnx", cfg)
    (cached,) = (tmp_path / "onnx").glob("*.onnx")
    mtime = cached.stat().st_mtime_ns
    again = load_segmenter(net, "onnx", cfg)
    assert cached.stat().st_mtime_ns == mtime and again.path == cached
    assert (again.predict(seq[0]).labels == ref).mean() > 0.98


def test_default_without_weights_raises_config_error(monkeypatch, tmp_path):
    import real3d.models.pretrained as pre

    monkeypatch.setattr(pre, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ConfigError, match="shipped weights are missing"):
        Pipeline.default()


def test_bad_config_names():
    with pytest.raises(ConfigError, match="valid: auto, torch, onnx, int8"):
        PipelineConfig(backend="tensorrt")
    with pytest.raises(ConfigError):
        PipelineConfig(overload_policy="block")


def test_segment_frame_is_predict_without_void(seq, nets, tmp_path):
    from real3d.pipeline import segment_frame

    ort = load_segmenter(nets[0], "onnx", PipelineConfig(cache_dir=str(tmp_path)))
    for seg in (*nets, ort):
        ref = seg.predict(seq[3])
        labels, probs = segment_frame(seg, seq[3])
        assert labels.dtype == np.uint8 and probs.shape == (13, *seq[3].size_hw)
        np.testing.assert_array_equal(labels, ref.labels)
        np.testing.assert_array_equal(probs, ref.probs[1:])
        # the labels are the most probable class (ids 1..13)
        np.testing.assert_array_equal(labels, probs.argmax(axis=0) + 1)
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)


class _Failing(_Wrapped):
    def predict(self, frame):
        if frame.index == 2:
            raise RuntimeError("backend failure")
        return self.net.predict(frame)


def test_a_segmentation_error_skips_the_frame_only(seq, nets):
    p = Pipeline(
        PipelineConfig(graph_every=0, costmap_every=0),
        segmenter=_Failing(nets[0]),
        rgb_segmenter=nets[1],
    )
    s = p.run(seq)
    assert s.counts["skipped"] == 1 and s.counts["fused"] == len(seq) - 1
    assert s.skipped[0][0] == 2 and "backend failure" in s.skipped[0][1]


def test_segmentation_tta_reaches_predict_and_is_validated(seq, nets):
    from real3d.pipeline import segment_frame

    tta = {"flip": True, "scales": (1.0, 1.25)}
    ref = nets[0].predict(seq[2], **tta)
    assert not np.array_equal(ref.probs, nets[0].predict(seq[2]).probs)  # it changes the answer
    labels, probs = segment_frame(nets[0], seq[2], **tta)
    np.testing.assert_array_equal(labels, ref.labels)
    np.testing.assert_array_equal(probs, ref.probs[1:])
    p = make(nets, seg_flip=True, seg_scales=[1.0, 1.25])
    assert p.config.seg_scales == (1.0, 1.25)
    r = p.step(seq[2])
    assert r.status == "fused"
    np.testing.assert_array_equal(r.labels, ref.labels)
    # the RGB-only model gets the same augmentation
    r = p.step(seq[3].replace(depth_m=None))
    np.testing.assert_array_equal(r.labels, nets[1].predict(seq[3].replace(depth_m=None), **tta).labels)
    for bad in ((), (0.1,), (1.0, float("nan")), "1,2"):
        with pytest.raises(ConfigError, match="seg_scales"):
            PipelineConfig(seg_scales=bad)
    for bad in ("yes", None, 1):
        with pytest.raises(ConfigError, match="seg_guided"):
            PipelineConfig(seg_guided=bad)


def test_segmentation_guided_setting_reaches_predict(seq, nets):
    import dataclasses

    from real3d.pipeline import segment_frame

    net = nets[0]
    plain_cfg = net.config
    try:
        net.config = dataclasses.replace(plain_cfg, guide_radius=2)
        guided = net.predict(seq[2])
        assert not np.array_equal(guided.probs, net.predict(seq[2], guided=False).probs)
        np.testing.assert_array_equal(segment_frame(net, seq[2], guided=True)[0], guided.labels)
        np.testing.assert_array_equal(
            segment_frame(net, seq[2], guided=False)[0], net.predict(seq[2], guided=False).labels
        )
        # the pipeline upsamples bilinearly unless asked (its budget goes to the frame rate)
        assert PipelineConfig().seg_guided is False
        np.testing.assert_array_equal(make(nets).step(seq[2]).labels, net.predict(seq[2], guided=False).labels)
        np.testing.assert_array_equal(make(nets, seg_guided=True).step(seq[2]).labels, guided.labels)
    finally:
        net.config = plain_cfg
    # a segmenter without guided upsampling is asked nothing when it is off, and refuses it on
    assert not net.supports_guided

    class Plain(_Wrapped):
        supports_guided = False

        def predict(self, frame):
            return net.predict(frame, guided=False)

    np.testing.assert_array_equal(
        segment_frame(Plain(net), seq[2], guided=False)[0], net.predict(seq[2], guided=False).labels
    )
    with pytest.raises(InputError, match="guide_radius"):  # predict itself refuses it
        segment_frame(net, seq[2], guided=True)


def test_segmenters_must_implement_the_contract(nets):
    from real3d.models import Segmenter

    assert all(isinstance(n, Segmenter) for n in nets)

    class Bare:
        def predict(self, frame):
            return nets[0].predict(frame)

    assert not isinstance(Bare(), Segmenter)
    with pytest.raises(ConfigError, match="lacks name, label_set"):
        Pipeline(PipelineConfig(rgb_model=None), segmenter=Bare())
    with pytest.raises(ConfigError, match="needs depth"):
        Pipeline(PipelineConfig(), segmenter=nets[0], rgb_segmenter=nets[0])


def test_without_a_model_frames_fuse_their_own_labels(seq):
    p = Pipeline(PipelineConfig(model=None, rgb_model=None, graph_every=0, costmap_every=0))
    assert p.segmenter is None
    r = p.step(seq[0])
    assert r.status == "fused" and r.model == "" and np.array_equal(r.labels, seq[0].labels)
    assert p.step(seq[1].replace(depth_m=None)).status == "skipped"
    # fuse: the same map as integrate, the pose joins the trajectory; bad input raises
    q = Pipeline(PipelineConfig(model=None, rgb_model=None))
    from real3d.mapping import SemanticMap

    m = SemanticMap(q.config.map)
    for f in seq:
        q.fuse(f)
        m.integrate(f)
    np.testing.assert_array_equal(q.map.voxel_arrays()["log_evidence"], m.voxel_arrays()["log_evidence"])
    assert len(q.trajectory) == len(seq) and np.allclose(q.trajectory[-1], seq[-1].world_T_cam[:3, 3])
    with pytest.raises(InputError, match="pose"):
        q.fuse(seq[3].replace(world_T_cam=None))
    # plan's goal comes first, the start defaults to the last camera position; the costmap
    # is left as it is
    before = q.costmap.cost.copy()
    start = q.trajectory[-1][:2]
    path = q.plan(start + 0.2)
    assert np.allclose(path.waypoints[0], start) and np.allclose(path.waypoints[-1], start + 0.2)
    np.testing.assert_array_equal(q.costmap.cost, before)


def test_thinned_rows_keep_an_evenly_spaced_aligned_sample():
    from real3d.core.errors import InputError
    from real3d.pipeline.results import ThinnedRows

    rows = ThinnedRows(("a", "b"), capacity=8)
    for k in range(100):
        rows.add({"a": k} if k % 2 else {"a": k, "b": 2 * k})
    arr = rows.arrays()
    assert rows.offered == 100 and rows.stride == 16 and len(rows.positions) < 8
    assert np.array_equal(arr["a"], np.asarray(rows.positions, float))
    assert np.array_equal(arr["b"], 2 * arr["a"])  # every kept position is even: b was given
    assert np.all(np.diff(rows.positions) == 16)
    with pytest.raises(InputError):
        ThinnedRows(("a",), capacity=1)


def test_run_summary_lists_are_bounded_and_counts_are_whole(monkeypatch):
    import real3d.pipeline.stream as stream

    monkeypatch.setattr(stream, "MAX_FRAMES_LISTED", 3)
    pipe = Pipeline(PipelineConfig(model=None, rgb_model=None, graph_every=0, costmap_every=0))
    s = pipe.run([object()] * 7)
    assert s.counts["skipped"] == 7 and len(s.skipped) == 3


@pytest.mark.parametrize(
    "kw",
    [
        {"queue_size": "3"},
        {"calibration_frames": 0},
        {"threads": 0},
        {"threads": True},
        {"max_gap_s": "1"},
        {"source_fps": "x"},
        {"graph_every": 1.5},
        {"refine_every": None},
    ],
)
def test_config_values_of_the_wrong_type_are_config_errors(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        PipelineConfig(**kw)


@pytest.fixture(scope="module")
def little_floor_frames():
    # a robot path whose first frames show (almost) no floor: the best plane is not the floor
    return generate_sequence(3, 5, size=(240, 320)).frames


def test_a_frame_without_a_convincing_floor_does_not_fix_gravity(little_floor_frames):
    from real3d.pipeline.source import _floor_pose

    with pytest.raises(InputError, match="no convincing floor"):
        _floor_pose(little_floor_frames[0])


def test_gravity_waits_for_a_floor_then_keeps_the_source_frame(little_floor_frames):
    cfg = PipelineConfig(model=None, rgb_model=None, gravity="floor", gravity_wait_frames=3)
    pipe = Pipeline(cfg)
    s = pipe.run(little_floor_frames)
    waiting = [i for i, r in s.rgb_only if "waiting for a floor" in r]
    assert waiting == [0, 1, 2]
    assert s.counts["fused"] == 2 and "source's frame is kept" in pipe.gravity_note
    assert np.array_equal(pipe.gravity_T_world, np.eye(4))


def test_gravity_from_a_frame_that_shows_the_floor_is_level():
    frames = generate_sequence(4, 3, size=(240, 320)).frames
    pipe = Pipeline(PipelineConfig(model=None, rgb_model=None, gravity="floor"))
    s = pipe.run(frames)
    assert s.counts["fused"] == 3 and pipe.gravity_note.startswith("floor plane fitted in frame 0")
    # the synthetic poses are z-up already: the fitted gravity frame must keep z up
    up = pipe.gravity_T_world[:3, :3] @ np.array([0.0, 0.0, 1.0])
    assert up @ np.array([0.0, 0.0, 1.0]) > np.cos(np.radians(1.0))
