import dataclasses

import numpy as np
import pytest
import torch

from real3d.core import Frame, Intrinsics
from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.deploy import (
    OrtSegmenter,
    calibration_feeds,
    export_onnx,
    quantize_int8,
    select_float_nodes,
)
from real3d.deploy.onnx_export import conv_macs
from real3d.models import PRESETS, build_model
from real3d.train import ToySegData, TrainConfig, train

# FP32 parity tolerance on logits (float reassociation in onnxruntime's fused kernels)
FP32_ATOL = 1e-3


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    """rgbd-tiny trained for a few steps on toy scenes, so its argmax is meaningful."""
    out = tmp_path_factory.mktemp("toy")
    cfg = TrainConfig(
        preset="rgbd-tiny",
        out_dir=str(out),
        steps=25,
        batch_size=4,
        crop_hw=(64, 96),
        warmup_steps=2,
        weight_samples=4,
        augment=None,
        lr=5e-3,
    )
    train(cfg, dataset=ToySegData(8), resume=False, progress=False)
    from real3d.models import load_weights

    return load_weights(out / "model.safetensors")


def _inputs(n=4, hw=(64, 96), first=100):
    data = ToySegData(first + n, hw)
    items = [data[first + i] for i in range(n)]
    rgb = torch.stack([s["rgb"] for s in items]).float() / 255
    depth = torch.stack([s["depth_m"] for s in items])
    labels = torch.stack([s["labels"] for s in items])
    return rgb, depth, labels


def test_fp32_and_int8_parity(toy_model, tmp_path):
    m = toy_model.eval()
    fp32 = export_onnx(m, tmp_path / "m.onnx", size_hw=(64, 96))
    feeds = calibration_feeds(m.config, ToySegData(16), n=16, size_hw=(64, 96))
    int8 = quantize_int8(fp32, tmp_path / "m.int8.onnx", feeds)
    rgb, depth, labels = _inputs()
    with torch.no_grad():
        ref = m(rgb, depth).numpy()
    s32 = OrtSegmenter(fp32)
    out32 = s32.run(rgb.numpy(), depth.numpy())
    assert np.abs(out32 - ref).max() < FP32_ATOL
    s8 = OrtSegmenter(int8)
    assert s8.precision == "int8" and s32.precision == "fp32"
    out8 = s8.run(rgb.numpy(), depth.numpy())
    agree = (out8.argmax(1) == ref.argmax(1)).mean()
    assert agree >= 0.98, agree
    # mIoU loss <= 1 point against the labels
    from real3d.eval import confusion_matrix, metrics_from_confusion

    def miou(logits):
        return metrics_from_confusion(confusion_matrix(logits.argmax(1) + 1, labels.numpy())).miou

    assert miou(ref) - miou(out8) <= 0.01


def test_dynamic_size_and_predict_api(toy_model, tmp_path):
    m = toy_model.eval()
    s = OrtSegmenter(export_onnx(m, tmp_path / "m.onnx", size_hw=(64, 96)))
    rgb, depth, _ = _inputs(1, (96, 128))
    with torch.no_grad():
        ref = m(rgb, depth).numpy()
    assert np.abs(s.run(rgb.numpy(), depth.numpy()) - ref).max() < FP32_ATOL
    h, w = 100, 150
    rng = np.random.default_rng(0)
    frame = Frame(
        rgb=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
        depth_m=rng.uniform(1, 4, (h, w)).astype(np.float32),
        intrinsics=Intrinsics.from_fov(w, h, 1.0),
    )
    a, b = s.predict(frame), m.predict(frame)
    assert a.labels.shape == (h, w) and np.allclose(a.probs, b.probs, atol=1e-4)
    a, b = s.predict(frame, flip=True), m.predict(frame, flip=True)
    assert a.labels.shape == (h, w) and np.allclose(a.probs, b.probs, atol=1e-4)
    a, b = s.predict(frame, flip=True, scales=(1.0, 1.25)), m.predict(frame, flip=True, scales=(1.0, 1.25))
    assert a.labels.shape == (h, w) and np.allclose(a.probs, b.probs, atol=1e-4)
    # the guided upsampling of the probabilities is the same code for both backends
    plain_cfg = m.config
    try:
        m.config = s.config = dataclasses.replace(plain_cfg, guide_radius=2, guide_eps=1e-3)
        a, b = s.predict(frame, flip=True), m.predict(frame, flip=True)
        assert np.allclose(a.probs, b.probs, atol=1e-4)
        assert not np.allclose(a.probs, s.predict(frame, flip=True, guided=False).probs, atol=1e-3)
    finally:
        m.config = s.config = plain_cfg
    with pytest.raises(InputError, match="depth"):
        s.predict(frame.replace(depth_m=None))
    with pytest.raises(InputError, match="multiples of 16"):
        s.run(np.zeros((1, 3, 60, 96), np.float32), np.zeros((1, 1, 60, 96), np.float32))


@pytest.mark.parametrize("name", list(PRESETS))
def test_capability_flags_hold(name, tmp_path):
    torch.manual_seed(0)
    m = build_model(name).eval()
    assert m.exportable and m.quantizable
    fp32 = export_onnx(m, tmp_path / "m.onnx", size_hw=(32, 48), head="coarse")
    s = OrtSegmenter(fp32)
    assert s.input_names == (["rgb"] if m.config.uses_rgb else []) + (["depth_m"] if m.config.uses_depth else [])
    rgb, depth = torch.rand(1, 3, 32, 48), torch.rand(1, 1, 32, 48) * 4
    with torch.no_grad():
        ref = m(rgb, depth, head="coarse").numpy()
    got = s.run(rgb.numpy() if m.config.uses_rgb else None, depth.numpy() if m.config.uses_depth else None)
    assert np.abs(got - ref).max() < FP32_ATOL
    q = quantize_int8(
        fp32, tmp_path / "q.onnx", calibration_feeds(m.config, ToySegData(2, (32, 48)), n=2, size_hw=(32, 48))
    )
    assert (
        OrtSegmenter(q)
        .run(rgb.numpy() if m.config.uses_rgb else None, depth.numpy() if m.config.uses_depth else None)
        .shape
        == ref.shape
    )


def test_errors(tmp_path):
    with pytest.raises(FormatError):
        OrtSegmenter(tmp_path / "missing.onnx")
    with pytest.raises(ConfigError):
        export_onnx(build_model("rgb-tiny"), tmp_path / "m.onnx", head="both")


def _float_convs(path):
    """Names of Conv nodes whose weight input is not dequantized (left in float)."""
    import onnx

    g = onnx.load(str(path)).graph
    dq_outputs = {o for n in g.node if n.op_type == "DequantizeLinear" for o in n.output}
    return {n.name for n in g.node if n.op_type == "Conv" and n.input[1] not in dq_outputs}


def test_keep_float_selection_and_card(toy_model, tmp_path):
    import copy
    import json

    import onnx

    m = toy_model.eval()
    fp32 = export_onnx(m, tmp_path / "m.onnx", size_hw=(64, 96))
    feeds = calibration_feeds(m.config, ToySegData(8), n=8, size_hw=(64, 96))
    convs = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "Conv"]
    assert _float_convs(quantize_int8(fp32, tmp_path / "all.onnx", feeds)) == set()
    # a target no partial float set reaches: the search stops at max_nodes, in ranked order
    keep, history = select_float_nodes(fp32, feeds, target_agreement=1.0, max_nodes=2)
    assert len(keep) == 2 and set(keep) <= set(convs)
    assert [n for n, _ in history] == [0, 1, 2] and all(0.0 <= a <= 1.0 for _, a in history)
    q = quantize_int8(fp32, tmp_path / "k.onnx", feeds, keep_float=keep)
    assert _float_convs(q) == set(keep)
    meta = {p.key: p.value for p in onnx.load(str(q)).metadata_props}
    assert json.loads(meta["real3d.int8_keep_float"]) == keep and meta["real3d.precision"] == "int8"
    # every convolution in float: the graph computes what FP32 does
    everything = quantize_int8(fp32, tmp_path / "f.onnx", feeds, keep_float=convs)
    rgb, depth, _ = _inputs(2)
    a = OrtSegmenter(everything).run(rgb.numpy(), depth.numpy())
    assert np.abs(a - OrtSegmenter(fp32).run(rgb.numpy(), depth.numpy())).max() < FP32_ATOL
    # a model card's list travels through the FP32 graph into the INT8 one
    carded = copy.deepcopy(m)
    carded.card = dict(m.card, int8_keep_float=keep[:1])
    fp32c = export_onnx(carded, tmp_path / "c.onnx", size_hw=(64, 96))
    assert _float_convs(quantize_int8(fp32c, tmp_path / "c.int8.onnx", feeds)) == set(keep[:1])
    with pytest.raises(ConfigError, match="keep_float"):
        quantize_int8(fp32, tmp_path / "x.onnx", feeds, keep_float=["/no/such/Conv"])
    with pytest.raises(ConfigError, match="target_agreement"):
        select_float_nodes(fp32, feeds, target_agreement=1.5)


def test_conv_macs_and_cost_aware_selection(toy_model, tmp_path):
    """conv_macs counts what torch's convolutions do on the same input; the cost-aware
    search adds nodes in order of gain per float MAC and refuses an unknown cost."""
    m = toy_model.eval()
    fp32 = export_onnx(m, tmp_path / "m.onnx", size_hw=(64, 96))
    feeds = calibration_feeds(m.config, ToySegData(8), n=6, size_hw=(64, 96))
    expected = []

    def hook(mod, inp, out):
        expected.append(mod.weight.numel() * out.shape[0] * out.shape[2] * out.shape[3])

    hooks = [mod.register_forward_hook(hook) for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    with torch.no_grad():
        m(torch.from_numpy(feeds[0]["rgb"]), torch.from_numpy(feeds[0]["depth_m"]))
    for h in hooks:
        h.remove()
    macs = conv_macs(fp32, feeds[0])
    assert len(macs) == len(expected) and sum(macs.values()) == sum(expected)
    assert sorted(macs.values()) == sorted(expected)
    keep, history = select_float_nodes(fp32, feeds, target_agreement=1.0, max_nodes=3, cost="macs")
    keep_n, history_n = select_float_nodes(fp32, feeds, target_agreement=1.0, max_nodes=3, cost="count")
    assert history[0] == history_n[0] and len(keep) == len(history) - 1 <= 3
    assert set(keep) <= set(macs) and set(keep_n) <= set(macs)
    if len(keep) > 1 and len(keep_n) > 1:
        # the MAC-ranked list spends no more float MACs on its first nodes than the gain-ranked one
        assert macs[keep[0]] <= max(macs[k] for k in keep_n)
    with pytest.raises(ConfigError, match="cost"):
        select_float_nodes(fp32, feeds, cost="latency")


def test_weight_formats(toy_model, tmp_path):
    """int7 (default) stores int8 weights within -64..64, int8 uses the full range, uint8 is
    unsigned; the format is recorded in the graph and an unknown one is refused."""
    import onnx
    from onnx import numpy_helper

    m = toy_model.eval()
    fp32 = export_onnx(m, tmp_path / "m.onnx", size_hw=(64, 96))
    feeds = calibration_feeds(m.config, ToySegData(8), n=8, size_hw=(64, 96))
    rgb, depth, _ = _inputs(2)
    ref = OrtSegmenter(fp32).run(rgb.numpy(), depth.numpy()).argmax(1)
    ranges = tmp_path / "ranges.json"
    for fmt, dtype, lo, hi in (("int7", np.int8, -64, 64), ("int8", np.int8, -128, 127), ("uint8", np.uint8, 0, 255)):
        q = quantize_int8(fp32, tmp_path / f"{fmt}.onnx", feeds, calibration_cache=ranges, weight_format=fmt)
        g = onnx.load(str(q))
        assert {p.key: p.value for p in g.metadata_props}["real3d.int8_weight_format"] == fmt
        init = {t.name: numpy_helper.to_array(t) for t in g.graph.initializer}
        weights = [
            init[n.input[0]]
            for n in g.graph.node
            if n.op_type == "DequantizeLinear" and n.input[0] in init and init[n.input[0]].ndim == 4
        ]
        assert weights and all(w.dtype == dtype for w in weights)
        assert min(int(w.min()) for w in weights) >= lo and max(int(w.max()) for w in weights) <= hi
        if fmt == "int8":  # the full range is used somewhere
            assert max(int(np.abs(w.astype(int)).max()) for w in weights) > 64
        agree = (OrtSegmenter(q).run(rgb.numpy(), depth.numpy()).argmax(1) == ref).mean()
        assert agree >= 0.9, (fmt, agree)
    with pytest.raises(ConfigError, match="weight_format"):
        quantize_int8(fp32, tmp_path / "x.onnx", feeds, weight_format="int4")
