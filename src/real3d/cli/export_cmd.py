"""``real3d export``: ONNX export (and static INT8) of a segmentation model."""

from __future__ import annotations

from pathlib import Path

import typer


def export(
    model: str = typer.Option("rgbd-default", "--model", help="Pretrained name, preset or .safetensors path."),
    fmt: str = typer.Option("onnx", "--format", help="onnx (the only format)."),
    int8: bool = typer.Option(False, "--int8", help="Also write a static INT8 (QDQ) graph."),
    out: Path = typer.Option(Path("export"), "--out", help="Output folder."),
    size: str = typer.Option(
        "",
        "--size",
        help="Example / calibration size HxW; default: the size predict runs the network at "
        "for each calibration frame (the model's infer_hw, sides multiples of 32).",
    ),
    head: str = typer.Option("refined", "--head", help="refined | coarse"),
    calib: str = typer.Option("synth:kind=mixed,size=240x320,seed=11,n=64", "--calib", help="Calibration data spec."),
    calib_frames: int = typer.Option(64, "--calib-frames", help="Calibration frames."),
    int8_target: float = typer.Option(
        0.0,
        "--int8-target",
        help="Search the convolutions to keep in float so that INT8 argmax agreement with FP32 "
        "on the calibration frames reaches this (e.g. 0.985); 0 = use the model card's list.",
    ),
    int8_cost: str = typer.Option(
        "macs",
        "--int8-cost",
        help="How --int8-target ranks convolutions: macs (default): most agreement per float "
        "multiply-accumulate, for speed; count: most agreement each, for the fewest float nodes.",
    ),
    weight_format: str = typer.Option(
        "int7",
        "--int8-weights",
        help="int7 (default): int8 weights in -64..64, which no x86 kernel saturates; int8: the full "
        "range, exact only on CPUs with VNNI or on ARM (AVX2-only CPUs saturate its sums); "
        "uint8: unsigned weights (onnxruntime's U8U8 kernels).",
    ),
) -> None:
    """Write OUT/<name>.onnx (FP32) and, with --int8, OUT/<name>.int8.onnx."""
    from real3d.cli.values import check_count, check_rate, parse_hw
    from real3d.core.errors import ConfigError
    from real3d.deploy import calibration_feeds, export_onnx, quantize_int8, select_float_nodes
    from real3d.deploy.onnx_export import SELECTION_COSTS, WEIGHT_FORMATS
    from real3d.models import create_model, network_size

    # every argument is checked before the model is loaded
    if fmt != "onnx":
        raise ConfigError(f"--format: unknown {fmt!r}; valid: onnx")
    if head not in ("refined", "coarse"):
        raise ConfigError(f"--head: expected refined or coarse, got {head!r}")
    # the network takes sides that are multiples of 16 (predict runs multiples of 32)
    hw = parse_hw(size, "--size", multiple=16) if size else None
    check_count(calib_frames, "--calib-frames", 1)
    check_rate(int8_target, "--int8-target", inclusive=True, maximum=1.0)
    if not 0.0 <= int8_target <= 1.0:
        raise ConfigError(
            f"--int8-target: expected an agreement in [0, 1] (0 = the model card's list), got {int8_target}"
        )
    if int8_cost not in SELECTION_COSTS:
        raise ConfigError(f"--int8-cost: expected one of {', '.join(SELECTION_COSTS)}, got {int8_cost!r}")
    if weight_format not in WEIGHT_FORMATS:
        raise ConfigError(f"--int8-weights: expected one of {', '.join(WEIGHT_FORMATS)}, got {weight_format!r}")
    net = create_model(model)
    stem = Path(model).stem if model.endswith(".safetensors") else model
    if head != "refined":
        stem += f".{head}"
    example_hw = hw or network_size(*net.config.infer_hw, net.config.infer_hw)
    fp32 = export_onnx(net, out / f"{stem}.onnx", size_hw=example_hw, head=head)
    typer.echo(f"wrote {fp32}")
    if int8:
        if not net.quantizable:
            raise ConfigError(f"{model} does not declare itself quantizable")
        feeds = calibration_feeds(net.config, calib, n=calib_frames, size_hw=hw)
        keep = None
        if int8_target:
            keep, history = select_float_nodes(
                fp32, feeds, target_agreement=int8_target, weight_format=weight_format, cost=int8_cost
            )
            typer.echo(f"agreement on calibration frames by convolutions kept in float: {history}")
            typer.echo(f"kept in float: {keep}")
        q = quantize_int8(fp32, out / f"{stem}.int8.onnx", feeds, keep_float=keep, weight_format=weight_format)
        typer.echo(f"wrote {q}")
