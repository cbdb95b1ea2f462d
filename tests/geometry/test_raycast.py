import numpy as np
import pytest

from real3d.core.errors import InputError
from real3d.geometry.o3d import import_open3d
from real3d.geometry.bvh import BVHOccluder
from real3d.geometry.raycast import TorchOccluder


def _unit_square():
    # the square [0, 1]^2 at z = 1, two triangles
    v = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=np.float64)
    return v, np.array([[0, 1, 2], [0, 2, 3]])


# rays against the unit square, with tnear 0 and tfar 1
_RAYS = np.array(
    [
        [0.5, 0.5, 0, 0, 0, 2],  # hits at t = 0.5
        [0.5, 0.5, 0, 0, 0, 0.9],  # stops short: t = 1.11 > tfar
        [1.5, 0.5, 0, 0, 0, 2],  # passes beside the square
        [0.5, 0.5, 0, 0, 0, -2],  # points away
        [0.2, 0.7, 2, 0, 0, -2],  # from behind, t = 0.5
        [0.5, 0.5, 0, 1, 0, 0],  # parallel to the plane
    ],
    dtype=np.float32,
)


def test_hand_made_rays_hit_where_they_should():
    v, f = _unit_square()
    occ = TorchOccluder(v, f, device="cpu", pairs_per_chunk=3)  # several chunks
    rays = _RAYS
    assert TorchOccluder(v, f, device="cpu").test_occlusions(rays, 0.0, 1.0).tolist() == [
        True,
        False,
        False,
        False,
        True,
        False,
    ]
    assert occ.test_occlusions(rays, 0.0, 1.0).tolist() == [True, False, False, False, True, False]
    # tnear excludes the hit at t = 0.5
    assert not occ.test_occlusions(rays[:1], 0.6, 1.0)[0]
    assert occ.test_occlusions(np.zeros((0, 6), np.float32)).shape == (0,)


def test_bvh_hand_made_rays_and_degenerate_meshes():
    v, f = _unit_square()
    rays = _RAYS
    for leaf in (1, 4):
        occ = BVHOccluder(v, f, leaf_size=leaf)
        assert occ.test_occlusions(rays, 0.0, 1.0).tolist() == [True, False, False, False, True, False]
        assert not occ.test_occlusions(rays[:1], 0.6, 1.0)[0]
    assert BVHOccluder(v, f, leaf_size=1).num_nodes == 3
    assert BVHOccluder(v, f).test_occlusions(np.zeros((0, 6), np.float32)).shape == (0,)
    assert not BVHOccluder(np.zeros((0, 3)), np.zeros((0, 3), int)).test_occlusions(rays).any()
    # 300 copies of one square: nothing to split, one leaf holds them all
    many = BVHOccluder(v, np.tile(f, (300, 1)), leaf_size=2)
    assert many.test_occlusions(rays, 0.0, 1.0).tolist() == [True, False, False, False, True, False]
    # 20,000 tiny triangles along a line: a deep hierarchy, still walked right
    x = np.linspace(0, 1, 20001)
    vv = np.concatenate(
        [np.stack([x, np.zeros_like(x), np.ones_like(x)], 1), np.stack([x, np.full_like(x, 1e-3), np.ones_like(x)], 1)]
    )
    ff = np.stack([np.arange(20000), np.arange(1, 20001), 20001 + np.arange(20000)], 1)
    line = BVHOccluder(vv, ff, leaf_size=1)
    # inside triangle i at y = 2e-4: x_i + 0.3 of a step; the last probe passes beside them
    probe = np.array([[(i + 0.3) / 20000, 2e-4, 0, 0, 0, 2] for i in (123, 10000, 19990)] + [[0.5, 0.01, 0, 0, 0, 2]])
    assert line.test_occlusions(probe, 0.0, 1.0).tolist() == [True, True, True, False]
    with pytest.raises(InputError):
        BVHOccluder(v, f, leaf_size=0)


@pytest.mark.parametrize("occluder", ["torch", "bvh"])
def test_agrees_with_open3d_on_a_scene(occluder):
    from real3d.synth import generate_scene

    mesh = generate_scene(5, "home").mesh
    rng = np.random.default_rng(0)
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    origins = rng.uniform(lo, hi, (4000, 3)).astype(np.float32)
    targets = rng.uniform(lo, hi, (4000, 3)).astype(np.float32)
    rays = np.hstack([origins, targets - origins]).astype(np.float32)
    occ = (
        TorchOccluder(mesh.vertices, mesh.triangles, device="cpu")
        if occluder == "torch"
        else BVHOccluder(mesh.vertices, mesh.triangles)
    )
    ours = occ.test_occlusions(rays, 1e-4, 0.98)
    o3d = import_open3d()
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(
        o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.triangles.astype(np.uint32))
    )
    ref = rc.test_occlusions(o3d.core.Tensor(rays), tnear=1e-4, tfar=0.98).numpy()
    assert 0.2 < ref.mean() < 0.98  # the test means something: many rays hit, some do not
    assert (ours != ref).sum() <= 2  # grazing rays at most


def test_rejects_bad_shapes():
    v, f = _unit_square()
    with pytest.raises(InputError):
        TorchOccluder(v[:, :2], f)
    with pytest.raises(InputError):
        TorchOccluder(v, f + 3)
    with pytest.raises(InputError):
        TorchOccluder(v, f, device="cpu").test_occlusions(np.zeros((4, 3), np.float32))
    with pytest.raises(InputError):
        BVHOccluder(v[:, :2], f)
    with pytest.raises(InputError):
        BVHOccluder(v, f + 3)
    with pytest.raises(InputError):
        BVHOccluder(v, f).test_occlusions(np.zeros((4, 3), np.float32))
