"""Frames without depth fuse with predicted depth (PipelineConfig.depth_model): the map and the
costmap grow from a camera alone, with the lower weight and the wider truncation."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from real3d.core import ConfigError
from real3d.mapping import SemanticMap
from real3d.models import build_model
from real3d.models.depth import DEPTH_PRESETS, DepthNet, DepthPrediction
from real3d.pipeline import Pipeline, PipelineConfig
from real3d.testing.toyscene import toy_sequence

HW = (60, 80)


@pytest.fixture(scope="module")
def seq():
    return toy_sequence(0, 12, size=HW)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return build_model("rgbd-tiny").eval(), build_model("rgb-tiny").eval()


class OracleDepth:
    """A depth model that knows the truth: the frame's clean depth, kept where ``keep``."""

    def __init__(self, truth: dict, keep: float = 1.0):
        self.truth, self.keep, self.calls = truth, keep, []

    def predict(self, frame, *, camera_height_m=None, world_T_cam=None):
        self.calls.append(camera_height_m)
        d = self.truth[frame.index].copy()
        d[: int(round((1 - self.keep) * d.shape[0]))] = 0
        return DepthPrediction(d, np.ones_like(d), 1.0, "oracle")


def rgb_only(f):
    return f.replace(depth_m=None, depth_clean_m=None)


def pipe(nets, depth_net, **kw):
    cfg = PipelineConfig(graph_every=0, costmap_every=0, background_refresh=False, **kw)
    return Pipeline(cfg, segmenter=nets[0], rgb_segmenter=nets[1], depth_net=depth_net)


def test_rgb_only_frames_fuse_with_predicted_depth_and_lower_weight(nets, seq, monkeypatch):
    seen = []
    integrate = SemanticMap.integrate

    def spy(self, frame, probs=None, instances=None, **kw):
        seen.append(kw)
        return integrate(self, frame, probs, instances, **kw)

    monkeypatch.setattr(SemanticMap, "integrate", spy)
    oracle = OracleDepth({f.index: f.depth_clean_m for f in seq})
    p = pipe(nets, oracle)
    r = p.step(rgb_only(seq[0]))
    assert r.status == "fused" and r.depth_source == "predicted" and r.model == "rgb"
    assert "predicted depth fused" in r.reason
    assert seen[-1] == {"weight": 0.3, "truncation_m": pytest.approx(2 * p.config.map.truncation_m)}
    assert len(p.map) > 100
    w = p.map.voxel_arrays()["weight"]
    assert w.max() == pytest.approx(0.3)  # one predicted frame: the weight it was given
    # the same frame with its sensor depth fuses at full weight, untouched by the depth model
    q = pipe(nets, oracle)
    r2 = q.step(seq[0])
    assert r2.depth_source == "sensor" and seen[-1] == {} and q.map.voxel_arrays()["weight"].max() == 1.0
    assert len(oracle.calls) == 1
    # without a depth model the frame only gets labels, as before
    plain = pipe(nets, None)
    r3 = plain.step(rgb_only(seq[0]))
    assert r3.status == "rgb_only" and r3.depth_source == "" and len(plain.map) == 0


def test_the_map_and_costmap_grow_from_a_camera_alone(nets, seq):
    # full weight: the costmap counts a voxel as solid after a few frames' weight
    # (ProjectionConfig.min_weight), which lighter frames reach only over more views
    oracle = OracleDepth({f.index: f.depth_clean_m for f in seq})
    p = pipe(nets, oracle, predicted_depth_weight=1.0)
    sizes = []
    for f in seq:
        assert p.step(rgb_only(f)).depth_source == "predicted"
        sizes.append(len(p.map))
    assert sizes[-1] > sizes[0] > 0
    cm = p.costmap
    assert cm is not None and cm.grid.free.sum() > 20 and cm.grid.occupied.sum() > 5
    # the floor prior asks the depth model for the camera's height: the pose's z (gravity off)
    assert oracle.calls[0] == pytest.approx(seq[0].world_T_cam[2, 3])
    assert pipe(nets, oracle, camera_height_m=1.1).step(rgb_only(seq[0])).status == "fused"
    assert oracle.calls[-1] == 1.1
    assert pipe(nets, oracle, depth_floor_prior=False).step(rgb_only(seq[0])).status == "fused"
    assert oracle.calls[-1] is None


def test_run_reports_which_frames_used_predicted_depth(nets, seq):
    oracle = OracleDepth({f.index: f.depth_clean_m for f in seq})
    p = pipe(nets, oracle)
    frames = [f if i % 2 == 0 else rgb_only(f) for i, f in enumerate(seq[:6])]
    out = []
    summary = p.run(frames, on_result=lambda r, f: out.append(r.depth_source))
    assert out == ["sensor", "predicted"] * 3
    assert summary.predicted_depth == 3 and summary.counts["fused"] == 6
    assert summary.to_dict()["predicted_depth"] == 3


def test_a_real_depth_net_runs_in_the_pipeline(nets, seq):
    torch.manual_seed(0)
    net = DepthNet(replace(DEPTH_PRESETS["depth-tiny"], min_confidence=0.0)).eval()
    p = pipe(nets, net)
    r = p.step(rgb_only(seq[0]))
    assert r.depth_source == "predicted" and len(p.map) > 0


def test_a_depth_model_that_declines_everything_leaves_the_frame_rgb_only(nets, seq):
    p = pipe(nets, OracleDepth({f.index: f.depth_clean_m for f in seq}, keep=0.0))
    r = p.step(rgb_only(seq[0]))
    assert r.status == "rgb_only" and "declined every pixel" in r.reason and len(p.map) == 0


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"predicted_depth_weight": 0.0}, "predicted_depth_weight"),
        ({"predicted_depth_weight": 1.5}, "predicted_depth_weight"),
        ({"predicted_depth_weight": True}, "predicted_depth_weight"),
        ({"predicted_truncation_scale": 0.5}, "predicted_truncation_scale"),
        ({"camera_height_m": -1.0}, "camera_height_m"),
        ({"depth_model": 3}, "depth_model"),
        ({"depth_model": ""}, "depth_model"),
        ({"depth_floor_prior": "yes"}, "depth_floor_prior"),
        ({"health_check": 1}, "health_check"),
    ],
)
def test_bad_config_values_raise(kw, match):
    with pytest.raises(ConfigError, match=match):
        PipelineConfig(**kw)


def test_a_depth_model_needs_an_rgb_model_and_a_known_name(nets):
    with pytest.raises(ConfigError, match="rgb_model"):
        Pipeline(PipelineConfig(rgb_model=None), segmenter=nets[0], depth_net=OracleDepth({}))
    with pytest.raises(ConfigError, match="depth model name"):
        Pipeline(PipelineConfig(depth_model="no-such-depth"), segmenter=nets[0], rgb_segmenter=nets[1])
