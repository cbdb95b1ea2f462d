"""The sensor health check inside the pipeline (PipelineConfig.health_check): per-frame
results, counts in the run summary, and frames whose depth fails it going to the RGB model."""

import numpy as np
import pytest
import torch

from real3d.models import build_model
from real3d.models.depth import DepthPrediction
from real3d.pipeline import Pipeline, PipelineConfig
from real3d.robust.health import FrameHealth
from real3d.testing.toyscene import toy_sequence

HW = (60, 80)


@pytest.fixture(scope="module")
def seq():
    return toy_sequence(1, 4, size=HW)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return build_model("rgbd-tiny").eval(), build_model("rgb-tiny").eval()


def pipe(nets, depth_net=None, **kw):
    cfg = PipelineConfig(graph_every=0, costmap_every=0, background_refresh=False, **kw)
    return Pipeline(cfg, segmenter=nets[0], rgb_segmenter=nets[1], depth_net=depth_net)


def holed(f):
    """Depth left only in the bottom tenth of the image: enough for the pipeline's own
    ``min_valid_depth`` (1 %), not for the health check (20 % valid, 70 % holes)."""
    d = f.depth_m.copy()
    d[: int(0.9 * d.shape[0])] = 0
    return f.replace(depth_m=d)


def test_a_frame_with_depth_removed_is_flagged_and_goes_to_the_rgb_model(nets, seq):
    p = pipe(nets, health_check=True)
    r = p.step(seq[0].replace(depth_m=None, depth_clean_m=None))
    assert isinstance(r.health, FrameHealth)
    assert r.health.depth_flag and not r.health.has_depth and "no depth" in r.health.reason
    assert r.model == "rgb" and r.status == "rgb_only" and len(p.map) == 0
    ok = p.step(seq[1])
    assert ok.health.depth_ok and ok.model == "rgbd" and ok.status == "fused" and ok.depth_source == "sensor"


def test_depth_failing_the_check_is_switched_only_with_the_check(nets, seq):
    bad = holed(seq[0])
    assert pipe(nets).step(bad).model == "rgbd"  # the pipeline's own threshold lets it through
    r = pipe(nets, health_check=True).step(bad)
    assert r.health.depth_flag and r.health.has_depth
    assert r.model == "rgb" and r.status == "rgb_only" and r.reason.startswith("sensor health: ")


def test_a_switched_frame_fuses_predicted_depth_when_a_depth_model_is_set(nets, seq):
    class Oracle:
        def predict(self, frame, *, camera_height_m=None, world_T_cam=None):
            d = next(f for f in seq if f.index == frame.index).depth_clean_m
            return DepthPrediction(d.copy(), np.ones_like(d), 1.0, "oracle")

    p = pipe(nets, Oracle(), health_check=True)
    r = p.step(holed(seq[0]))
    assert r.model == "rgb" and r.status == "fused" and r.depth_source == "predicted"
    assert p.map.voxel_arrays()["weight"].max() == pytest.approx(p.config.predicted_depth_weight)


def test_run_counts_the_health_results(nets, seq):
    frames = [seq[0], seq[1].replace(depth_m=None, depth_clean_m=None), holed(seq[2]), seq[3]]
    p = pipe(nets, health_check=True)
    results = []
    s = p.run(frames, on_result=lambda r, f: results.append(r))
    assert [r.health.depth_flag for r in results] == [False, True, True, False]
    h = s.health
    assert h["checked"] == 4 and h["by_fault"]["depth"] == 2 and h["flagged"] >= 2
    assert h["depth_switched"] == 1  # the holed frame; the one without depth had none to switch
    assert {1, 2} <= {f["index"] for f in h["frames"]}
    assert s.to_dict()["sensor_health"]["checked"] == 4
    assert s.counts["fused"] == 2 and s.counts["rgb_only"] == 2


def test_without_the_check_nothing_changes(nets, seq):
    p = pipe(nets)
    assert p._check_health is None
    r = p.step(seq[0])
    assert r.health is None and r.depth_source == "sensor"
    s = p.run(list(seq))
    assert s.health == {} and "sensor_health" not in s.to_dict() and s.predicted_depth == 0


def test_the_recorder_keeps_each_checked_frames_measures():
    from types import SimpleNamespace

    from real3d.eval.recorder import HEALTH_SERIES, RunRecorder

    def res(i, health):
        return SimpleNamespace(index=i, status="fused", latency_ms={"total": 1.0}, map_voxels=0, health=health)

    h = SimpleNamespace(valid_depth=0.0, mean_luma=0.4, sharpness=2.0, noise_sigma=0.01, flagged=True)
    rec = RunRecorder(max_rows=100)
    rec.on_result(res(0, None), None)
    assert rec.health == {}
    rec.on_result(res(1, h), None)
    rec.on_result(res(2, None), None)
    assert set(rec.health) == set(HEALTH_SERIES) and all(len(v) == 3 for v in rec.health.values())
    assert np.isnan(rec.health["valid_depth"][0]) and rec.health["valid_depth"][1] == 0.0
    assert rec.health["flagged"][1] == 1.0 and np.isnan(rec.health["sharpness"][2])
    for i in range(3, 100):  # thinning keeps the rows aligned
        rec.on_result(res(i, h), None)
    assert all(len(v) == len(rec.position) for v in rec.health.values())
