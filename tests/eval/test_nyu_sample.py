"""The default models on one real NYUv2 frame (shared data next to the repository)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "nyuv2_train_sample"
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "eval_nyu_sample.py"

pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="shared NYUv2 sample not present")


def _loader():
    spec = importlib.util.spec_from_file_location("eval_nyu_sample", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_nyu_sample


def test_defaults_segment_the_real_frame():
    from real3d.eval import confusion_matrix, metrics_from_confusion
    from real3d.models import load_pretrained

    frame = _loader()(ROOT)
    assert frame.size_hw == (480, 640) and frame.depth_m.max() <= 10.0
    for name in ("rgbd-default", "rgb-default"):
        res = load_pretrained(name).predict(frame)
        assert res.labels.shape == (480, 640) and 1 <= res.labels.min() and res.labels.max() <= 13
        m = metrics_from_confusion(confusion_matrix(res.labels, frame.labels))
        assert 0.0 <= m.pixel_acc <= 1.0 and np.isfinite(m.miou)
