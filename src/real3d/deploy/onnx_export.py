"""ONNX export and static INT8 quantisation of segmentation networks.

The exported graph takes ``rgb`` (B, 3, H, W) float [0, 1] and/or ``depth_m`` (B, 1, H, W)
float metres (0 = invalid), with H and W dynamic (multiples of 16), and returns ``logits``
(B, K, H, W). The model's config travels in the ONNX metadata (``real3d.config``), so the
runtime backend needs nothing else.

INT8: static QDQ, per-channel weights, activations calibrated on frames from the data
engine with the Percentile method (99.999 %), which kept argmax agreement with FP32 higher
than MinMax and Entropy calibration (docs/segmentation.md). Only convolutions are
quantised: the attention's matrix products see sums over all pixels whose range varies with
the input size, and keeping them in float costs little time (they are a small part of the
MACs).

Some convolutions lose more than others to 8 bits (on rgbd-default the depth encoder's stem,
whose input spans 0-10 m). ``select_float_nodes`` ranks every convolution by how much argmax
agreement with FP32 keeping it in float recovers on the calibration frames, and keeps the
fewest in float that reach a target. A model card's ``int8_keep_float`` list travels in the
FP32 graph's metadata (``real3d.int8_keep_float``), and ``quantize_int8`` honours it, so
every path that quantises shipped weights (CLI, pipeline, benchmarks) gets the same graph.

Weights are quantised to 7 bits (-64..64, onnxruntime's ``reduce_range``) by default. On x86
CPUs without VNNI (AVX2 only) onnxruntime computes U8S8 convolutions with an instruction that
adds pairs of uint8 x int8 products into int16 and saturates: with full 8-bit weights a pair
can reach 2 x 255 x 127 = 64,770, past 32,767, and on an AVX2-only host 7-bit weights kept
argmax agreement with FP32 higher than full-range ones (figures in docs/segmentation.md and
its history). VNNI CPUs sum in int32
and do not saturate; there ``weight_format="int8"`` keeps one more bit of weight precision,
but that graph computes differently from one x86 CPU to another. ``uint8`` weights (U8U8
kernels) do not saturate either and ran 1.2-1.35x slower.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from real3d.core.errors import ConfigError
from real3d.core.files import atomic_path
from real3d.models.contract import Segmenter
from real3d.models.segmentation import Real3DVisionNet

WEIGHT_FORMATS = ("int7", "int8", "uint8")
DEFAULT_WEIGHT_FORMAT = "int7"


class _ExportWrapper(nn.Module):
    """Fixes the head and the input list of a Real3DVisionNet for export."""

    def __init__(self, model: Real3DVisionNet, head: str):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        cfg = self.model.config
        it = iter(inputs)
        rgb = next(it) if cfg.uses_rgb else None
        depth = next(it) if cfg.uses_depth else None
        return self.model(rgb, depth, head=self.head)


def input_names(model_config) -> list[str]:
    return (["rgb"] if model_config.uses_rgb else []) + (["depth_m"] if model_config.uses_depth else [])


def export_onnx(
    model: Real3DVisionNet,
    path: str | Path,
    size_hw: tuple[int, int] = (240, 320),
    head: str = "refined",
    opset: int = 17,
) -> Path:
    """Export ``model`` (eval mode) to ONNX at ``path``; returns the path.

    ``size_hw`` is the example input size; H and W stay dynamic in the graph.
    """
    if not isinstance(model, Segmenter) or not model.exportable:
        raise ConfigError(f"{type(model).__name__} does not declare itself exportable")
    if head not in ("refined", "coarse"):
        raise ConfigError(f"export_onnx: head must be 'refined' or 'coarse', got {head!r}")
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as part:  # renamed when complete: no half-written graph
        cfg = model.config
        model = model.eval()
        wrapper = _ExportWrapper(model, head).eval()
        names = input_names(cfg)
        g = torch.Generator().manual_seed(0)
        examples = []
        for n in names:
            c = 3 if n == "rgb" else 1
            x = torch.rand(1, c, *size_hw, generator=g)
            examples.append(x if n == "rgb" else x * 5.0)
        dyn = {n: {0: "batch", 2: "height", 3: "width"} for n in names}
        dyn["logits"] = {0: "batch", 2: "height", 3: "width"}
        with torch.no_grad(), warnings.catch_warnings():
            # the input checks read shapes as Python values; the tracer warns about each one,
            # but the sizes they read are taken from the tensors in the graph
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                wrapper,
                tuple(examples),
                str(part),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=dyn,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        m = onnx.load(str(part))
        meta = {
            "real3d.config": json.dumps(cfg.to_dict()),
            "real3d.head": head,
            "real3d.precision": "fp32",
            "real3d.model": model.model_name,
        }
        keep = (model.card or {}).get("int8_keep_float")
        if keep:
            meta[KEEP_FLOAT_KEY] = json.dumps(list(keep))
        for k, v in meta.items():
            e = m.metadata_props.add()
            e.key, e.value = k, v
        onnx.save(m, str(part))
    return path


KEEP_FLOAT_KEY = "real3d.int8_keep_float"


class _Calibration:
    """onnxruntime CalibrationDataReader over a list of input dicts."""

    def __init__(self, feeds: list[dict]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)


def calibration_feeds(model_config, data, n: int = 32, size_hw: tuple[int, int] | None = None) -> list[dict]:
    """Input dicts for calibration from ``n`` samples of a Dataset or data spec string,
    resized to ``size_hw`` (default: the size ``predict`` runs the network at for each
    sample, ``network_size`` of the model's infer_hw)."""
    from real3d.models.segmentation import network_size
    from real3d.train.data import augment, open_data

    if isinstance(data, str):
        data = open_data(data)
    feeds = []
    for i in np.linspace(0, len(data) - 1, min(n, len(data))).astype(int):
        sample = data[int(i)]
        hw = tuple(size_hw) if size_hw else network_size(*sample["labels"].shape[-2:], model_config.infer_hw)
        s = augment(sample, hw, None, torch.Generator())
        f = {}
        if model_config.uses_rgb:
            f["rgb"] = s["rgb"][None].numpy().astype(np.float32)
        if model_config.uses_depth:
            f["depth_m"] = s["depth_m"][None].numpy().astype(np.float32)
        feeds.append(f)
    return feeds


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    feeds: list[dict],
    per_channel: bool = True,
    keep_float: list[str] | None = None,
    calibration_cache: str | Path | None = None,
    weight_format: str = DEFAULT_WEIGHT_FORMAT,
) -> Path:
    """Static INT8 (QDQ) quantisation of an exported graph, calibrated on ``feeds``.

    Args:
        weight_format: how convolution weights are stored (see the module notes): ``int7``
            int8 limited to -64..64, ``int8`` the full signed range (exact only on CPUs with
            VNNI, or on ARM), ``uint8`` unsigned with a zero point (onnxruntime's U8U8 kernels).
        keep_float: names of Conv nodes left in float. None: the list in the graph's
            ``real3d.int8_keep_float`` metadata (from the model card), else none.
        calibration_cache: a JSON file for the activation ranges: read if it exists,
            written otherwise (repeated quantisations of one graph calibrate once).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if weight_format not in WEIGHT_FORMATS:
        raise ConfigError(f"quantize_int8: weight_format must be one of {WEIGHT_FORMATS}, got {weight_format!r}")
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if not feeds and not (calibration_cache and Path(calibration_cache).is_file()):
        raise ConfigError("quantize_int8: no calibration feeds")
    src = onnx.load(str(fp32_path))
    src_meta = {p.key: p.value for p in src.metadata_props}
    if keep_float is None:
        keep_float = json.loads(src_meta.get(KEEP_FLOAT_KEY, "[]"))
    keep_float = [str(n) for n in keep_float]
    if keep_float:
        convs = {n.name for n in src.graph.node if n.op_type == "Conv"}
        unknown = [n for n in keep_float if n not in convs]
        if unknown:
            raise ConfigError(f"quantize_int8: keep_float names no Conv node of {fp32_path.name}: {unknown[:3]}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as part:  # renamed when complete
        pre = part.with_suffix(".pre.onnx")  # a unique name beside it, removed below
        try:
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            quantize_static(
                str(pre),
                str(part),
                _Calibration(feeds),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QUInt8 if weight_format == "uint8" else QuantType.QInt8,
                op_types_to_quantize=["Conv"],
                calibrate_method=CalibrationMethod.Percentile,
                nodes_to_exclude=keep_float,
                reduce_range=weight_format == "int7",
                **({"calibration_cache_path": str(calibration_cache)} if calibration_cache else {}),
            )
        finally:
            pre.unlink(missing_ok=True)
        m = onnx.load(str(part))
        meta = dict(
            src_meta,
            **{
                "real3d.precision": "int8",
                KEEP_FLOAT_KEY: json.dumps(keep_float),
                "real3d.int8_weight_format": weight_format,
            },
        )
        del m.metadata_props[:]
        for k, v in meta.items():
            e = m.metadata_props.add()
            e.key, e.value = k, v
        onnx.save(m, str(part))
    return out_path


def conv_macs(fp32_path: str | Path, feed: dict) -> dict[str, int]:
    """Multiply-accumulates of every Conv node of a graph on one input ``feed``.

    The graph's spatial sizes are dynamic (the decoder's Resize takes its size from the
    tensors), so shapes are read from one run with every Conv output exposed, not from
    shape inference.
    """
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(fp32_path))
    weights = {i.name: list(i.dims) for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    exposed = {o.name for o in m.graph.output}
    for n in convs:
        if n.output[0] not in exposed:
            m.graph.output.append(onnx.ValueInfoProto(name=n.output[0]))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [n.output[0] for n in convs]
    outs = dict(zip(names, sess.run(names, feed)))
    macs = {}
    for n in convs:
        w = weights.get(n.input[1])
        if w is None:
            raise ConfigError(f"conv_macs: {n.name} takes its weights from a tensor, not an initializer")
        o = outs[n.output[0]].shape  # (B, C_out, H, W)
        macs[n.name] = int(np.prod(w)) * int(np.prod(o[2:])) * int(o[0])
    return macs


SELECTION_COSTS = ("macs", "count")


def select_float_nodes(
    fp32_path: str | Path,
    feeds: list[dict],
    target_agreement: float = 0.985,
    max_nodes: int = 8,
    threads: int = 0,
    weight_format: str = DEFAULT_WEIGHT_FORMAT,
    cost: str = "macs",
) -> tuple[list[str], list[tuple[int, float]]]:
    """Conv nodes to keep in float so that INT8 argmax agreement with the FP32 graph,
    measured on ``feeds``, reaches ``target_agreement`` at little float cost.

    Each Conv is scored by the agreement gained when it alone stays in float. Nodes are
    then added in order (at most ``max_nodes``) until the target is met:

    - ``cost="macs"`` (default): most gain per float multiply-accumulate first, so cheap
      convolutions that recover as much as an expensive one are preferred (a float
      convolution runs several times slower than its INT8 form);
    - ``cost="count"``: most gain first (the fewest nodes).

    Nodes whose float form gains nothing are never added. Costs one quantisation and one
    pass over ``feeds`` per Conv. Returns the chosen names and the agreement after each
    addition ``[(n_float, agreement), ...]`` starting from none.
    """
    import tempfile

    import onnx
    import onnxruntime as ort

    if not 0.0 < target_agreement <= 1.0:
        raise ConfigError(f"select_float_nodes: target_agreement must lie in (0, 1], got {target_agreement}")
    if cost not in SELECTION_COSTS:
        raise ConfigError(f"select_float_nodes: cost must be one of {SELECTION_COSTS}, got {cost!r}")
    if not feeds:
        raise ConfigError("select_float_nodes: no feeds")
    fp32_path = Path(fp32_path)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads

    def predictions(path):
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return [sess.run(None, f)[0].argmax(1) for f in feeds]

    ref = predictions(fp32_path)
    convs = [n.name for n in onnx.load(str(fp32_path)).graph.node if n.op_type == "Conv"]
    with tempfile.TemporaryDirectory(prefix="real3d-int8-") as tmp:
        cache, q = Path(tmp) / "ranges.json", Path(tmp) / "q.onnx"

        def agreement(keep):
            quantize_int8(fp32_path, q, feeds, keep_float=keep, calibration_cache=cache, weight_format=weight_format)
            return float(np.mean([(a == b).mean() for a, b in zip(predictions(q), ref)]))

        history = [(0, agreement([]))]
        if history[0][1] >= target_agreement:
            return [], history
        base = history[0][1]
        gain = {c: agreement([c]) - base for c in convs}
        useful = [c for c in convs if gain[c] > 0]
        if cost == "macs":
            macs = conv_macs(fp32_path, feeds[0])
            order = sorted(useful, key=lambda c: -gain[c] / max(macs[c], 1))
        else:
            order = sorted(useful, key=lambda c: -gain[c])
        chosen: list[str] = []
        for c in order[:max_nodes]:
            chosen.append(c)
            history.append((len(chosen), base + gain[c] if len(chosen) == 1 else agreement(chosen)))
            if history[-1][1] >= target_agreement:
                break
    return chosen, history
