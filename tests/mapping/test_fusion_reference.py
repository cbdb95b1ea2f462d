"""``SemanticMap.integrate`` against the maps of ``data/fusion_reference.npz``, written by
the straightforward fusion before it was made faster (see
``data/make_fusion_reference.py``): the same voxels in the same rows, the same free
cells, fused labels and instances; counts and weights equal; floating values equal to
float32 rounding: atol 1e-6 on tsdf, endpoint offsets and label confidence (all within
[-1, 1]), 1e-4 on colours (0..255) and log evidence ([-30, 0])."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from real3d.core.errors import InputError
from real3d.mapping import SemanticMap

DATA = Path(__file__).with_name("data")
_spec = importlib.util.spec_from_file_location("make_fusion_reference", DATA / "make_fusion_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

EXACT = (
    "keys", "weight", "class_weight", "color_weight", "hits", "hit_weight", "instance", "instance_votes",
    "instance_class", "free_keys", "free_count", "camera_positions", "frames_integrated", "labels",
)  # fmt: skip
ATOL = {"tsdf": 1e-6, "hit_offset": 1e-6, "confidence": 1e-6, "color": 1e-4, "log_evidence": 1e-4}


@pytest.fixture(scope="module")
def stored():
    with np.load(DATA / "fusion_reference.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("case", list(ref.CASES))
def test_integrate_reproduces_the_reference_maps(stored, case):
    frames = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith("frames/")}
    m = ref.fuse_case(frames, case)
    got = ref.map_arrays(m)
    want = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith(case + "/")}
    assert set(EXACT) | set(ATOL) <= set(want)
    for name in EXACT:
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"{case}: {name}")
    for name, atol in ATOL.items():
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=atol, err_msg=f"{case}: {name}")
    assert (got["labels"] > 0).any() == (ref.CASES[case][1] != "none")


def _map_state(m) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in ref.map_arrays(m).items()}


def test_bad_probabilities_where_the_map_reads_leave_the_map_unchanged(stored):
    frames = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith("frames/")}
    fs = ref.make_frames(frames, with_truth=False)
    m = SemanticMap(pixel_stride=2)
    m.integrate(fs[0], ref.class_probs(frames["labels"][0], 0))
    before, version = _map_state(m), m.version
    good = ref.class_probs(frames["labels"][1], 1)
    for value, match in ((np.nan, "NaN or inf"), (np.inf, "NaN or inf"), (1.5, r"\[0, 1\]"), (-0.2, r"\[0, 1\]")):
        bad = good.copy()
        bad[3] = value  # one class channel, everywhere
        with pytest.raises(InputError, match=match):
            m.integrate(fs[1], bad)
        after = _map_state(m)
        for k, v in before.items():
            np.testing.assert_array_equal(after[k], v, err_msg=f"{value}: {k}")
        assert m.version == version
    # -0.0 is a valid zero; a bad value at a pixel no voxel reads is not looked at.
    ok = good.copy()
    ok[3][ok[3] == ok[3].min()] = -0.0
    m.integrate(fs[1], ok)
    corner = good.copy()
    corner[:, 0, 0] = np.nan
    depth = fs[2].depth_m.copy()
    depth[:3, :3] = 0.0  # no depth near the corner: no voxel projects there
    m.integrate(fs[2].replace(depth_m=depth), corner)
    assert m.frames_integrated == 3


def test_the_quick_pose_check_accepts_only_what_check_pose_accepts():
    from real3d.core.pose import check_pose
    from real3d.mapping.semantic_map import _certainly_rigid

    rng = np.random.default_rng(4)
    for _ in range(50):
        q = rng.normal(size=4)
        w, x, y, z = q / np.linalg.norm(q)
        R = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, rng.normal(size=3) * 5
        for cand in (T, T.astype(np.float32)):
            np.testing.assert_array_equal(_certainly_rigid(cand), check_pose(cand))
        bad = T.copy()
        bad[:3, 0] *= -1  # a reflection
        assert _certainly_rigid(bad) is None
        bad = T.copy()
        i, j = rng.integers(0, 4), rng.integers(0, 3)
        bad[(i, j) if i < 3 else (3, j + 1)] += 1e-3  # a rotation entry or the bottom row off
        assert _certainly_rigid(bad) is None
        bad[0, 0] = np.nan
        assert _certainly_rigid(bad) is None
    assert _certainly_rigid(np.eye(4, dtype=np.int64)) is None  # check_pose decides
    assert _certainly_rigid([[1, 0, 0, 0]] * 4) is None
