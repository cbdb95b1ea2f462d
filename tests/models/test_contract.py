"""The Segmenter contract: every model implements it and its flags say what it can do."""

import dataclasses

import numpy as np
import pytest
import torch

from real3d.core import Frame, Intrinsics
from real3d.core.errors import InputError
from real3d.models import PRESETS, Segmenter, build_model
from real3d.models.contract import label_set_for, missing_members


def _frame(h=96, w=128, depth=True):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    d = rng.uniform(0.5, 6.0, (h, w)).astype(np.float32) if depth else None
    return Frame(rgb=rgb, depth_m=d, intrinsics=Intrinsics.from_fov(w, h, 1.0))


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_segmenter_whose_attributes_hold(name):
    torch.manual_seed(0)
    m = build_model(name).eval()
    assert isinstance(m, Segmenter) and missing_members(m) == []
    assert m.name == name and m.input_hw == m.config.infer_hw
    r = m.predict(_frame(depth=m.uses_depth))
    assert r.probs.shape[0] == m.label_set.num_classes + 1 == 14
    assert m.label_set.name == (m.config.label_set or "nyu13")
    # uses_depth: a frame without depth is refused exactly when the model needs depth
    if m.uses_depth:
        with pytest.raises(InputError, match="depth"):
            m.predict(_frame(depth=False))
    else:
        assert m.predict(_frame(depth=False)).labels.shape == (96, 128)
    assert m.uses_rgb == (m.config.fusion != "depth")


def test_supports_guided_says_whether_guided_upsampling_happens():
    torch.manual_seed(0)
    m = build_model("rgbd-tiny").eval()
    f = _frame()
    assert not m.supports_guided
    with pytest.raises(InputError, match="guide_radius"):
        m.predict(f, guided=True)
    m.config = dataclasses.replace(m.config, guide_radius=2)
    assert m.supports_guided
    assert not np.array_equal(m.predict(f, guided=True).probs, m.predict(f, guided=False).probs)


def test_label_set_for_other_class_counts():
    ls = label_set_for(5)
    assert ls.num_classes == 5 and ls.names[0] == "void" and ls.colors.shape == (6, 3)


def test_missing_members_names_exactly_what_the_protocol_checks():
    from real3d.models.contract import _MEMBERS

    m = build_model("rgb-tiny").eval()

    class Partial:
        def __init__(self, drop):
            for a in _MEMBERS:
                if a != drop:
                    setattr(self, a, getattr(m, a))

    for drop in _MEMBERS:
        p = Partial(drop)
        assert missing_members(p) == [drop] and not isinstance(p, Segmenter)
    assert isinstance(Partial(None), Segmenter)
