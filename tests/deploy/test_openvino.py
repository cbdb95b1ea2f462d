"""The OpenVINO backend (real3d.deploy.openvino_backend): the same graph and answers as
onnxruntime. Skipped where openvino is not installed; the error without it is tested in
test_runtime.py."""

import numpy as np
import pytest
import torch

from real3d.core import Frame, Intrinsics
from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.deploy import OrtSegmenter, calibration_feeds, export_onnx, quantize_int8
from real3d.models import Segmenter, build_model, create_model
from real3d.models.inference import NetworkSegmentation
from real3d.train import ToySegData

pytest.importorskip("openvino")

from real3d.deploy.openvino_backend import OpenVinoSegmenter  # noqa: E402


def _frame(h=100, w=150, seed=0):
    rng = np.random.default_rng(seed)
    return Frame(
        rgb=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        depth_m=rng.uniform(0.5, 6.0, (h, w)).astype(np.float32),
        intrinsics=Intrinsics.from_fov(w, h, 1.0),
    )


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    """(net, FP32 graph, INT8 graph) of a random rgbd-tiny."""
    out = tmp_path_factory.mktemp("ov")
    torch.manual_seed(0)
    net = build_model("rgbd-tiny").eval()
    fp32 = export_onnx(net, out / "m.onnx", size_hw=(64, 96))
    feeds = calibration_feeds(net.config, ToySegData(4, (64, 96)), n=4, size_hw=(64, 96))
    return net, fp32, quantize_int8(fp32, out / "q.onnx", feeds)


def test_openvino_runs_the_graph_as_onnxruntime_does(graphs):
    net, fp32, int8 = graphs
    ov, ort = OpenVinoSegmenter(int8, threads=1), OrtSegmenter(int8, threads=1)
    assert isinstance(ov, Segmenter) and ov.precision == "int8" and ov.model_name == ort.model_name
    for a in ("name", "label_set", "uses_rgb", "uses_depth", "input_hw", "supports_guided", "head", "input_names"):
        assert getattr(ov, a) == getattr(ort, a), a
    assert not ov.exportable and not ov.quantizable
    # FP32: the same logits within float reassociation
    rgb, depth = torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96) * 4 + 0.5
    with torch.no_grad():
        ref = net(rgb, depth).numpy()
    got = OpenVinoSegmenter(fp32).run(rgb.numpy(), depth.numpy())
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-3
    # INT8: the labels of onnxruntime's INT8 run on >= 99 % of the pixels, at two frame sizes
    # (one compiled graph per size)
    for h, w in ((100, 150), (60, 80)):
        f = _frame(h, w)
        a, b = ov.predict(f), ort.predict(f)
        assert a.labels.shape == (h, w) and (a.labels == b.labels).mean() >= 0.99
        assert np.allclose(a.probs[1:].sum(0), 1.0, atol=1e-4)
    assert len(ov._requests) == 2
    n = ov.predict(_frame(), probs_at="network")
    assert isinstance(n, NetworkSegmentation) and n.labels.shape == (100, 150)
    with pytest.raises(InputError, match="multiples of 16"):
        ov.run(np.zeros((1, 3, 60, 96), np.float32), np.zeros((1, 1, 60, 96), np.float32))
    with pytest.raises(InputError, match="depth_m"):
        ov.run(rgb.numpy(), None)


def test_openvino_errors(graphs, tmp_path):
    _, _, int8 = graphs
    with pytest.raises(ConfigError, match="precision"):
        OpenVinoSegmenter(int8, precision="int4")
    with pytest.raises(ConfigError, match="threads"):
        OpenVinoSegmenter(int8, threads=-1)
    with pytest.raises(FormatError, match="no such"):
        OpenVinoSegmenter(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph" * 10)
    with pytest.raises(FormatError, match="corrupt"):
        OpenVinoSegmenter(bad)


def test_create_model_openvino_serves_the_int8_graph(tmp_path):
    torch.manual_seed(0)
    net = build_model("rgb-tiny").eval()
    seg = create_model(net, "openvino", cache_dir=tmp_path, threads=1, calibration_frames=1)
    assert isinstance(seg, OpenVinoSegmenter) and seg.precision == "int8"
    assert seg.predict(_frame(60, 80)).labels.shape == (60, 80)
