"""The pipeline takes NYUv2-13 segmenters only: another label set's ids would be misread
by the map, scene graph and costmap."""

import pytest

from real3d.core import ConfigError
from real3d.models import build_model
from real3d.pipeline import Pipeline, PipelineConfig


def test_a_warehouse_model_is_refused_with_the_reason():
    net = build_model("rgbd-warehouse").eval()
    assert net.label_set.name == "warehouse"
    with pytest.raises(ConfigError, match="predicts 'warehouse' labels"):
        Pipeline(PipelineConfig(rgb_model=None), segmenter=net)


def test_a_nyu13_model_is_taken():
    net = build_model("rgbd-tiny").eval()
    Pipeline(PipelineConfig(rgb_model=None), segmenter=net).close()
