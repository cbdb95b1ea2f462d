"""create_model's ONNX backends (real3d.deploy.runtime) and the Segmenter contract of the
onnxruntime segmenter."""

import dataclasses

import numpy as np
import pytest
import torch

from real3d.core import Frame, Intrinsics
from real3d.core.errors import ConfigError, InputError
from real3d.deploy import OrtSegmenter, export_onnx
from real3d.models import Segmenter, build_model, create_model, save_weights


def _frame(h=60, w=80):
    rng = np.random.default_rng(0)
    return Frame(
        rgb=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        depth_m=rng.uniform(0.5, 6.0, (h, w)).astype(np.float32),
        intrinsics=Intrinsics.from_fov(w, h, 1.0),
    )


def test_onnx_backend_is_a_segmenter_with_the_networks_attributes(tmp_path):
    torch.manual_seed(0)
    net = build_model("rgbd-tiny").eval()
    net.config = dataclasses.replace(net.config, guide_radius=2)
    path = save_weights(net, tmp_path / "w" / "model.safetensors")
    ort = create_model(path, "onnx", cache_dir=tmp_path / "cache", threads=1)
    assert isinstance(ort, OrtSegmenter) and isinstance(ort, Segmenter) and ort.precision == "fp32"
    for a in ("name", "label_set", "uses_rgb", "uses_depth", "input_hw", "supports_guided"):
        assert getattr(ort, a) == getattr(net, a), a
    f = _frame()
    assert (ort.predict(f, guided=True).labels == net.predict(f, guided=True).labels).mean() > 0.98
    # a deployed graph claims neither capability, and export refuses it
    assert not ort.exportable and not ort.quantizable
    with pytest.raises(ConfigError, match="exportable"):
        export_onnx(ort, tmp_path / "again.onnx")
    # weights from a file: the graph is cached by content and reused
    (cached,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    assert create_model(path, "onnx", cache_dir=tmp_path / "cache").path == cached


def test_guided_needs_the_capability_on_every_backend(tmp_path):
    torch.manual_seed(0)
    ort = create_model(build_model("rgb-tiny").eval(), "onnx", cache_dir=tmp_path)
    assert not ort.supports_guided
    with pytest.raises(InputError, match="guide_radius"):
        ort.predict(_frame(), guided=True)
    assert list((tmp_path / "onnx").iterdir()) == []  # random weights leave nothing behind


def test_openvino_backend_without_openvino_names_the_extra(tmp_path, monkeypatch):
    import sys

    from real3d.deploy.openvino_backend import OpenVinoSegmenter

    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(ConfigError, match=r"real3d\[openvino\]"):
        OpenVinoSegmenter(tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match=r"real3d\[openvino\]"):
        create_model(build_model("rgb-tiny").eval(), "openvino", cache_dir=tmp_path)
    assert not (tmp_path / "onnx").exists() or list((tmp_path / "onnx").iterdir()) == []  # nothing exported


def test_backend_names_and_threads_are_checked():
    with pytest.raises(ConfigError, match="openvino"):  # the message lists the valid backends
        create_model("rgb-tiny", "tensorrt")
    with pytest.raises(ConfigError, match="threads"):
        create_model("rgb-tiny", "openvino", threads=-1)
