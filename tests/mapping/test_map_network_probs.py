"""SemanticMap.integrate with class probabilities at the network's size (a
NetworkSegmentation): the same map as with those probabilities resized to the frame."""

import numpy as np
import pytest
import torch

from real3d.core import NYU13, InputError, Intrinsics, look_at
from real3d.mapping import SemanticMap
from real3d.models.inference import NetworkSegmentation
from real3d.testing.toyscene import ToyRenderer, boxes_scene

K = Intrinsics.from_fov(160, 120, 1.0)
FLOOR, TABLE = NYU13.index("floor"), NYU13.index("table")


@pytest.fixture(scope="module")
def frames():
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1), ((0, 0, 0.25), (0.6, 0.4, 0.5), 0.4, TABLE, 2)])
    r = ToyRenderer(scene)
    poses = [look_at((1.6 * np.cos(a), 1.6 * np.sin(a), 1.2), (0, 0, 0.25)) for a in np.linspace(0, 2, 4)]
    return [r.render(K, T, index=i) for i, T in enumerate(poses)]


def network_seg(frame, hw, seed):
    """Random softmax probabilities at ``hw`` (void channel 0) and the frame-size labels."""
    g = np.random.default_rng(seed)
    logits = g.normal(size=(13, *hw)).astype(np.float32) * 3
    p = np.exp(logits - logits.max(0))
    p /= p.sum(0)
    probs = np.concatenate([np.zeros((1, *hw), np.float32), p.astype(np.float32)])
    full = torch.nn.functional.interpolate(
        torch.from_numpy(probs)[None], size=frame.size_hw, mode="bilinear", align_corners=False
    )[0].numpy()
    labels = full[1:].argmax(0).astype(np.uint8) + 1
    return NetworkSegmentation(labels=labels, probs=probs), full


@pytest.mark.parametrize("hw", [(56, 72), (120, 160), (37, 50)])
def test_network_size_probabilities_fuse_as_their_resize_to_the_frame(frames, hw):
    a = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=2)
    b = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=2)
    for i, f in enumerate(frames):
        seg, full = network_seg(f, hw, i)
        a.integrate(f, seg)
        b.integrate(f, full)
    va, vb = a.voxel_arrays(), b.voxel_arrays()
    assert len(a) == len(b) > 500
    for k in va:
        if va[k].dtype.kind == "f":
            # float32 rounding of the interpolation, amplified by the log of small probabilities
            tol = 1e-3 if k == "log_evidence" else 2e-5
            np.testing.assert_allclose(va[k], vb[k], atol=tol, err_msg=k)
        else:
            np.testing.assert_array_equal(va[k], vb[k], err_msg=k)
    np.testing.assert_array_equal(a.fused_labels()[0], b.fused_labels()[0])


def test_nearest_reading_would_differ(frames):
    # The resampling is bilinear, not the nearest network pixel: at a quarter of the
    # frame's size most read pixels fall between network pixels.
    f = frames[0]
    seg, full = network_seg(f, (30, 40), 0)
    v, u = np.mgrid[0:120:7, 0:160:7]
    near = seg.probs_at_pixels(v.ravel(), u.ravel()).T
    assert np.abs(near - full[:, v.ravel(), u.ravel()]).max() > 0.05


def test_bad_network_size_segmentations_raise(frames):
    f = frames[0]
    seg, _ = network_seg(f, (30, 40), 0)
    m = SemanticMap(voxel_size_m=0.05)
    wrong_labels = NetworkSegmentation(labels=np.ones((60, 80), np.uint8), probs=seg.probs)
    with pytest.raises(InputError, match="labels of the frame's size"):
        m.integrate(f, wrong_labels)
    few = NetworkSegmentation(labels=np.minimum(seg.labels, 9), probs=seg.probs[:10].copy())
    with pytest.raises(InputError, match="network-size probabilities"):
        m.integrate(f, few)
    bad = seg.probs.copy()
    bad[3] = np.nan
    with pytest.raises(InputError):
        m.integrate(f, NetworkSegmentation(labels=seg.labels, probs=bad))
    assert len(m) == 0
