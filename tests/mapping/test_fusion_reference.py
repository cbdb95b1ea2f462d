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
