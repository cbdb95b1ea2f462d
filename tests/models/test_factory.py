"""create_model: one way to get a model from a name, a path or a config."""

import pytest
import torch

from real3d.core.errors import ConfigError, FormatError
from real3d.models import (
    PRESETS,
    PRETRAINED,
    Real3DVisionNet,
    Segmenter,
    build_model,
    create_model,
    list_models,
    load_model,
    load_weights,
    save_weights,
)


def test_names_presets_configs_and_networks():
    assert list_models() == PRETRAINED + tuple(PRESETS)
    m = create_model("rgbd-tiny")
    assert isinstance(m, Real3DVisionNet) and isinstance(m, Segmenter)
    assert m.name == "rgbd-tiny" and not m.training
    assert create_model(PRESETS["rgb-tiny"]).name == "rgb-tiny"
    assert create_model(m) is m
    # build_model is the same network for training code: not in eval mode
    assert build_model("rgbd-tiny").training


def test_shipped_names_load_their_weights():
    m = create_model("rgb-default")
    assert not m.uses_depth and "metrics" in m.card
    assert load_model("rgb-default").config == m.config


def test_unknown_names_and_backends_list_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="rgbd-default.*rgbd-tiny"):
        create_model("rgbd-huge")
    with pytest.raises(ConfigError, match="torch, onnx, int8"):
        create_model("rgbd-tiny", backend="tensorrt")
    with pytest.raises(ConfigError):
        create_model(3)
    with pytest.raises(FormatError):
        create_model(tmp_path / "missing.safetensors")


def test_weights_paths_round_trip(tmp_path):
    torch.manual_seed(0)
    net = build_model("rgbd-tiny")
    path = save_weights(net, tmp_path / "w" / "model.safetensors")
    for spec in (path, str(path), tmp_path / "w", path.with_suffix(".json")):
        m = create_model(spec)
        assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), net.state_dict().values()))
    assert load_weights(path).card == create_model(path).card
