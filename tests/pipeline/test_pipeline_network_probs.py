"""The pipeline hands the map its network's probabilities at the network's size
(PipelineConfig.seg_network_probs): the same labels, a map equal to the frame-size path
within float rounding."""

import numpy as np
import pytest
import torch

from real3d.core import ConfigError
from real3d.models import build_model
from real3d.models.inference import NetworkSegmentation
from real3d.pipeline import Pipeline, PipelineConfig
from real3d.synth import TextureBank, generate_sequence

HW = (60, 80)


@pytest.fixture(scope="module")
def seq():
    return generate_sequence(3, 6, size=HW, bank=TextureBank(0))


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return build_model("rgbd-tiny").eval(), build_model("rgb-tiny").eval()


def run(nets, seq, **kw):
    p = Pipeline(PipelineConfig(graph_every=0, costmap_every=0, **kw), segmenter=nets[0], rgb_segmenter=nets[1])
    labels = [p.step(f).labels for f in seq]
    p.close()
    return p, labels


def test_network_size_probabilities_give_the_same_labels_and_map(nets, seq, monkeypatch):
    seen = []
    integrate = type(Pipeline(PipelineConfig(model=None, rgb_model=None)).map).integrate

    def spy(self, frame, probs=None, instances=None):
        seen.append(type(probs).__name__)
        return integrate(self, frame, probs, instances)

    monkeypatch.setattr(type(Pipeline(PipelineConfig(model=None, rgb_model=None)).map), "integrate", spy)
    on, lab_on = run(nets, seq, seg_network_probs=True)
    assert set(seen) == {NetworkSegmentation.__name__}
    seen.clear()
    off, lab_off = run(nets, seq)  # the default
    assert NetworkSegmentation.__name__ not in seen
    for a, b in zip(lab_on, lab_off):
        assert (a == b).mean() >= 0.999
    va, vb = on.map.voxel_arrays(), off.map.voxel_arrays()
    assert len(on.map) == len(off.map) > 100
    np.testing.assert_allclose(va["tsdf"], vb["tsdf"], atol=1e-6)
    # The frame-size path takes the softmax of the resized logits, the network-size path
    # resizes the softmax (at the pixels the map reads): fused labels agree on nearly
    # every voxel.
    assert (on.map.fused_labels()[0] == off.map.fused_labels()[0]).mean() > 0.98


def test_test_time_augmentation_keeps_the_frame_size_path(nets, seq, monkeypatch):
    seen = []
    m = Pipeline(PipelineConfig(model=None, rgb_model=None)).map
    integrate = type(m).integrate

    def spy(self, frame, probs=None, instances=None):
        seen.append(type(probs).__name__)
        return integrate(self, frame, probs, instances)

    monkeypatch.setattr(type(m), "integrate", spy)
    run(nets, seq[:2], seg_flip=True, seg_network_probs=True)
    assert seen and NetworkSegmentation.__name__ not in seen


def test_the_setting_must_be_a_bool():
    with pytest.raises(ConfigError, match="seg_network_probs"):
        PipelineConfig(seg_network_probs="yes")
