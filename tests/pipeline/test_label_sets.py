"""The pipeline takes segmenters of any label set with scene-graph roles (NYUv2-13 and
warehouse; tests/pipeline/test_pipeline_label_sets.py runs them), one label set per
pipeline: the map, scene graph and costmap hold its ids."""

import pytest

from real3d.core import ConfigError
from real3d.models import build_model
from real3d.pipeline import Pipeline, PipelineConfig


def test_a_warehouse_model_is_taken_with_its_label_set():
    net = build_model("rgbd-warehouse").eval()
    assert net.label_set.name == "warehouse"
    pipe = Pipeline(PipelineConfig(rgb_model=None), segmenter=net)
    assert pipe.label_set.name == pipe.config.scene_graph.label_set == pipe.config.costmap.label_set == "warehouse"
    pipe.close()


def test_a_warehouse_model_beside_a_nyu13_rgb_model_is_refused_with_the_reason():
    net = build_model("rgbd-warehouse").eval()
    with pytest.raises(ConfigError, match="model 'warehouse', rgb_model 'nyu13'"):
        Pipeline(PipelineConfig(rgb_model=None), segmenter=net, rgb_segmenter=build_model("rgb-tiny").eval())


def test_a_nyu13_model_is_taken():
    net = build_model("rgbd-tiny").eval()
    Pipeline(PipelineConfig(rgb_model=None), segmenter=net).close()
