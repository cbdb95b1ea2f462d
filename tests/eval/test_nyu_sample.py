"""The NYUv2 sample loader, on files written here, and the default models on the real frame
(shared data next to the repository)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from real3d.eval.nyu_sample import DEPTH_FILE, LABELS_FILE, RGB_FILE, load_nyu_sample, nyu_sample_dir
from real3d.io.nyu import NYU_COLOR_INTRINSICS

ROOT = nyu_sample_dir(Path(__file__).resolve().parents[2])


def test_loader_scales_the_relative_depth_and_keeps_the_labels(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    labels = rng.integers(0, 14, (480, 640), dtype=np.uint8)
    rel = np.full((512, 682), 51, np.uint8)
    rel[0, 0] = 255
    Image.fromarray(rgb).save(tmp_path / RGB_FILE)
    Image.fromarray(labels).save(tmp_path / LABELS_FILE)
    Image.fromarray(rel).save(tmp_path / DEPTH_FILE)
    f = load_nyu_sample(tmp_path)
    np.testing.assert_array_equal(f.rgb, rgb)
    np.testing.assert_array_equal(f.labels, labels)
    assert f.depth_m.shape == (480, 640) and f.depth_m.dtype == np.float32
    assert f.depth_m[0, 0] == pytest.approx(10.0) and f.depth_m[240, 320] == pytest.approx(2.0)
    assert f.intrinsics == NYU_COLOR_INTRINSICS


def test_loader_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=RGB_FILE):
        load_nyu_sample(tmp_path)


@pytest.mark.skipif(not ROOT.is_dir(), reason="shared NYUv2 sample not present")
def test_defaults_segment_the_real_frame():
    from real3d.eval import confusion_matrix, metrics_from_confusion
    from real3d.models import load_pretrained

    frame = load_nyu_sample(ROOT)
    assert frame.size_hw == (480, 640) and frame.depth_m.max() <= 10.0
    for name in ("rgbd-default", "rgb-default"):
        res = load_pretrained(name).predict(frame)
        assert res.labels.shape == (480, 640) and 1 <= res.labels.min() and res.labels.max() <= 13
        m = metrics_from_confusion(confusion_matrix(res.labels, frame.labels))
        assert 0.0 <= m.pixel_acc <= 1.0 and np.isfinite(m.miou)
