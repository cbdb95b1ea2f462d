import numpy as np
import pytest

from real3d.core.errors import FormatError, InputError
from real3d.testing.toyscene import toy_sequence
from real3d.train.map_data import MapSample, fuse_frames, label_points, sample_from_map


class _Oracle:
    """A segmenter that returns the frame's own labels as one-hot probabilities."""

    class _Result:
        def __init__(self, probs):
            self.probs = probs

    def predict(self, frame):
        lab = frame.labels.astype(np.int64)
        probs = np.full((13,) + lab.shape, 1e-3, np.float32)
        for c in range(1, 14):
            probs[c - 1][lab == c] = 1.0
        return self._Result(probs / probs.sum(0, keepdims=True))


@pytest.fixture(scope="module")
def toy():
    return toy_sequence(seed=1, n_frames=12, size=(96, 128))


def test_sample_labels_come_from_the_mesh_and_match_gt_fusion(toy):
    m = fuse_frames(toy.frames, _Oracle())
    s = sample_from_map(m, toy.scene.mesh, meta={"seed": 1})
    assert len(s) == len(m) and s.surface.sum() > 100
    lab = s.labels[s.surface]
    assert (lab > 0).mean() > 0.95  # the snapped surface lies on the mesh
    assert not s.labels[~s.surface].any() and not s.instances[s.labels == 0].any()
    both = s.surface & (s.labels > 0)
    # fusing exact labels reproduces the mesh's classes almost everywhere
    assert (s.fusion_labels()[both] == s.labels[both]).mean() > 0.9
    # voxel indices hold the snapped points within a voxel and a half
    centre = (s.coords + 0.5) * s.voxel_size_m
    assert np.abs(s.points[s.surface] - centre[s.surface]).max() <= 1.5 * s.voxel_size_m + 1e-6
    assert s.instances[both].max() > 0 and s.free_coords.shape[1] == 3 and len(s.free_coords) > 0


def test_gt_fusion_default_and_save_load_round_trip(toy, tmp_path):
    from real3d.pipeline import PipelineConfig

    m = fuse_frames(toy.frames[:4])
    assert m.config == PipelineConfig().map  # the pipeline's map settings by default
    s = sample_from_map(m, toy.scene.mesh, meta={"seed": 1, "frames": 4})
    p = s.save(tmp_path / "a.npz")
    back = MapSample.load(p)
    for name in MapSample._ROW_FIELDS:
        assert np.array_equal(getattr(back, name), getattr(s, name)), name
    assert back.meta == {"seed": 1, "frames": 4} and back.voxel_size_m == s.voxel_size_m
    assert not list(tmp_path.glob(".*part*"))
    (tmp_path / "bad.npz").write_bytes(p.read_bytes()[:100])
    with pytest.raises(FormatError):
        MapSample.load(tmp_path / "bad.npz")
    with pytest.raises(InputError, match=".npz"):
        s.save(tmp_path / "a.txt")


def test_bad_samples_and_points_are_refused(toy):
    m = fuse_frames(toy.frames[:2])
    s = sample_from_map(m)
    assert not s.labels.any()
    with pytest.raises(InputError, match="labels"):
        MapSample(**{**s.__dict__, "labels": s.labels[:-1]})
    with pytest.raises(InputError, match="coords"):
        MapSample(**{**s.__dict__, "coords": s.coords.astype(np.int64)})
    with pytest.raises(InputError, match="points"):
        label_points(toy.scene.mesh, np.zeros((4, 2)), 0.1)
    far, _ = label_points(toy.scene.mesh, np.array([[100.0, 100.0, 100.0]]), 0.1)
    assert far.tolist() == [0]
