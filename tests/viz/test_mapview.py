import numpy as np
import pytest

from real3d.core import NYU13, InputError
from real3d.mapping import MapRefinement, SemanticMap
from real3d.testing.toyscene import toy_sequence
from real3d.viz.mapview import before_after, topdown_labels


def test_topdown_and_before_after_show_the_refined_labels():
    toy = toy_sequence(seed=0, n_frames=6, size=(60, 80))
    m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=2)
    for f in toy.frames:
        m.integrate(f)
    img = topdown_labels(m)
    assert img.ndim == 3 and img.dtype == np.uint8 and (img != 255).any()
    with pytest.raises(InputError, match="refinement"):
        before_after(m)
    chair = NYU13.index("chair")
    n = len(m)
    m.set_refinement(MapRefinement(np.full(n, chair, np.uint8), np.ones(n, np.float32), None, m.version))
    both = before_after(m, gap=8)
    left = topdown_labels(m, use_refinement=False)
    right = topdown_labels(m)
    assert both.shape[1] == left.shape[1] + 8 + right.shape[1]
    drawn = (right != 255).any(axis=2)
    assert (right[drawn] == NYU13.colors[chair]).all()  # every drawn cell takes the refined class
    assert not (left[(left != 255).any(axis=2)] == NYU13.colors[chair]).all()
    with pytest.raises(InputError):
        topdown_labels(SemanticMap(voxel_size_m=0.05))
