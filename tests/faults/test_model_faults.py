"""Fault corpus for models, exported graphs, maps and command-line values: corrupt weights
and cards, damaged ONNX files and export-cache entries, damaged map files and bad option
values. Every case ends in a real3d error, a skipped-and-reported frame or a documented
warning. Each test builds its damaged fixture in ``tmp_path``."""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from real3d.core.errors import ConfigError, FormatError, InputError, Real3DError
from real3d.core.frame import Frame
from real3d.core.camera import Intrinsics
from real3d.mapping.semantic_map import SemanticMap
from real3d.models import build_model, create_model, save_weights
from real3d.models.cards import UnverifiedWeightsWarning, file_sha256, read_card, write_card
from real3d.models.pretrained import WEIGHTS_DIR, load_weights
from real3d.models.seg3d import load_seg3d
from real3d.scene.refine import BoxRefiner

HW = (48, 64)


# ---------------------------------------------------------------------------- helpers
def copy_shipped(name: str, dst) -> object:
    """Copy shipped weights ``name`` (.safetensors + .json) into ``dst``; returns the copy's
    .safetensors path."""
    for ext in (".safetensors", ".json"):
        shutil.copy(WEIGHTS_DIR / f"{name}{ext}", dst / f"{name}{ext}")
    return dst / f"{name}.safetensors"


def tensor_area_start(path) -> int:
    """Offset of the first tensor byte of a safetensors file (8-byte header length + header)."""
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
    return 8 + n


def flip_bytes(path, n: int, start: int = 0, seed: int = 0) -> None:
    """XOR ``n`` distinct bytes at or after ``start`` with 0xFF, at seeded positions."""
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for i in rng.choice(np.arange(start, len(data)), size=n, replace=False):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_card(weights, **changes) -> None:
    """Rewrite the card of ``weights`` with ``changes`` (a value None deletes the key)."""
    card = json.loads(weights.with_suffix(".json").read_text())
    for k, v in changes.items():
        if v is None:
            card.pop(k, None)
        else:
            card[k] = v
    weights.with_suffix(".json").write_text(json.dumps(card))


def edit_config(weights, **changes) -> None:
    card = json.loads(weights.with_suffix(".json").read_text())
    card["config"].update(changes)
    weights.with_suffix(".json").write_text(json.dumps(card))


def frame(depth: bool = True, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (*HW, 3), dtype=np.uint8)
    d = rng.uniform(0.5, 4.0, HW).astype(np.float32) if depth else None
    return Frame(
        rgb=rgb,
        depth_m=d,
        intrinsics=Intrinsics.from_fov(HW[1], HW[0], 1.0),
        world_T_cam=np.eye(4),
        labels=np.ones(HW, np.uint8),
    )


def small(net):
    """``net`` run at 64 x 64 (``predict``'s network size), to keep the tests fast."""
    net.config = dataclasses.replace(net.config, infer_hw=(64, 64))
    return net


@pytest.fixture()
def tiny_weights(tmp_path):
    """rgbd-tiny weights saved with their card (which records the sha256)."""
    torch.manual_seed(0)
    return save_weights(build_model("rgbd-tiny").eval(), tmp_path / "tiny" / "model.safetensors")


# ---------------------------------------------------------------------------- weights (defect 6)
def test_shipped_cards_record_their_weights_digest():
    for card_file in sorted(WEIGHTS_DIR.glob("*.json")):
        card = json.loads(card_file.read_text())
        assert card["sha256"] == file_sha256(card_file.with_suffix(".safetensors")), card_file.name


def test_flipped_bytes_in_shipped_weights_are_refused_at_load(tmp_path):
    w = copy_shipped("rgbd-default", tmp_path)
    create_model(w)  # the intact copy loads
    flip_bytes(w, 5000, start=tensor_area_start(w))
    with pytest.raises(FormatError, match="sha256") as e:
        create_model(w)
    assert str(w) in str(e.value) and "expects" in str(e.value)


@pytest.mark.parametrize("name", ["seg3d-default"])
def test_flipped_bytes_in_shipped_3d_weights_are_refused(tmp_path, name):
    w = copy_shipped(name, tmp_path)
    flip_bytes(w, 500, start=tensor_area_start(w))
    with pytest.raises(FormatError, match="sha256"):
        load_seg3d(w)


def test_flipped_bytes_in_the_box_refiner_are_refused(tmp_path):
    w = copy_shipped("box-refiner", tmp_path)
    BoxRefiner.load(w)
    flip_bytes(w, 50, start=tensor_area_start(w))
    with pytest.raises(FormatError, match="sha256"):
        BoxRefiner.load(w)


def test_weights_without_a_digest_load_with_a_warning(tiny_weights):
    edit_card(tiny_weights, sha256=None)
    with pytest.warns(UnverifiedWeightsWarning, match="records no sha256"):
        m = load_weights(tiny_weights)
    assert m.config.name == "rgbd-tiny"
    # write_card records the digest; then the weights load without a warning
    write_card(tiny_weights, read_card(tiny_weights))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_weights(tiny_weights)


def test_nan_tensors_in_unverified_weights_are_refused(tiny_weights):
    # a card without a digest cannot catch the damage; the tensors' values do
    edit_card(tiny_weights, sha256=None)
    data = bytearray(tiny_weights.read_bytes())
    start = tensor_area_start(tiny_weights)
    header = json.loads(data[8:start])
    name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    a = start + header[name]["data_offsets"][0]
    data[a : a + 16] = b"\xff" * 16  # float32 0xffffffff is NaN
    tiny_weights.write_bytes(bytes(data))
    with pytest.warns(UnverifiedWeightsWarning), pytest.raises(FormatError, match="NaN or inf"):
        load_weights(tiny_weights)


def test_truncated_or_empty_unverified_weights_are_format_errors(tiny_weights):
    edit_card(tiny_weights, sha256=None)
    data = tiny_weights.read_bytes()
    for damaged in (data[: len(data) // 2], b"", b"not a safetensors file at all"):
        tiny_weights.write_bytes(damaged)
        with pytest.warns(UnverifiedWeightsWarning), pytest.raises(FormatError, match="safetensors"):
            load_weights(tiny_weights)


@pytest.mark.parametrize(
    "field, value",
    [
        ("infer_hw", [-32, 0]),
        ("infer_hw", [0, 0]),
        ("infer_hw", [240]),
        ("infer_hw", "240x320"),
        ("num_classes", "13"),
        ("num_classes", 0),
        ("num_classes", 13.5),
        ("max_depth_m", -1.0),
        ("fusion_stages", [7]),
        ("name", 5),
        ("guide_radius", -1),
        ("decoder", {"width": -4}),
        ("rgb_encoder", {"in_channels": 3, "widths": [0, 32, 64, 128, 192], "depths": [1, 1, 2, 1]}),
        ("rgb_encoder", None),
        ("bogus", 1),
    ],
)
def test_invalid_card_configs_are_format_errors_naming_the_field(tiny_weights, field, value):
    if field == "bogus":
        edit_config(tiny_weights, bogus=1)
    else:
        edit_config(tiny_weights, **{field: value})
    with pytest.raises(FormatError) as e:
        load_weights(tiny_weights)
    assert field in str(e.value) and "model.json" in str(e.value)


def test_a_card_that_is_not_json_or_not_an_object_is_a_format_error(tiny_weights):
    card = tiny_weights.with_suffix(".json")
    for text in ('{"config": {', "[1, 2]", "\xff\xfe", ""):
        card.write_text(text, encoding="latin-1")
        with pytest.raises(FormatError, match="model.json"):
            load_weights(tiny_weights)


def test_a_malformed_digest_is_a_format_error(tiny_weights):
    edit_card(tiny_weights, sha256="abc")
    with pytest.raises(FormatError, match="sha256"):
        load_weights(tiny_weights)
    edit_card(tiny_weights, sha256=["x"])
    with pytest.raises(FormatError, match="sha256"):
        load_weights(tiny_weights)


def test_weights_of_the_wrong_shape_are_a_format_error(tmp_path, tiny_weights):
    # the card describes a wider network than the tensors hold (digest recomputed: the card
    # is consistent with the file, the file not with the config)
    edit_config(tiny_weights, decoder={"width": 48, "refine_width": 16})
    write_card(tiny_weights, read_card(tiny_weights))
    with pytest.raises(FormatError, match="does not fit"):
        load_weights(tiny_weights)


def test_seg3d_cards_are_validated(tmp_path):
    w = copy_shipped("seg3d-default", tmp_path)
    for changes in (
        {"voxel_size_m": -0.05},
        {"channels": [32, "x"]},
        {"kernel_size": "3"},
        {"name": 3},
        {"instance_head": "yes"},
    ):
        shutil.copy(WEIGHTS_DIR / "seg3d-default.json", w.with_suffix(".json"))
        edit_config(w, **changes)
        with pytest.raises(FormatError, match=next(iter(changes))):
            load_seg3d(w)
    w.with_suffix(".json").write_text("{not json")
    with pytest.raises(FormatError, match="JSON"):
        load_seg3d(w)


def test_box_refiner_files_of_the_wrong_shape_or_values_are_refused(tmp_path):
    ref = BoxRefiner.load(WEIGHTS_DIR / "box-refiner.safetensors")
    p = dict(ref.params)
    p["b0"] = p["b0"][:-1]
    bad = BoxRefiner.__new__(BoxRefiner)
    bad.params, bad.card = p, {}
    with pytest.raises(FormatError, match="chain"):
        BoxRefiner.load(bad.save(tmp_path / "short.safetensors"))
    p = dict(ref.params)
    p["w1"] = p["w1"].copy()
    p["w1"][0, 0] = np.nan
    bad.params = p
    with pytest.raises(FormatError, match="finite"):
        BoxRefiner.load(bad.save(tmp_path / "nan.safetensors"))
    (tmp_path / "nan.json").write_text("[]")
    with pytest.raises(FormatError, match="JSON object"):
        BoxRefiner.load(tmp_path / "nan.safetensors")


# ---------------------------------------------------------------------------- forward pass (defect 6)
def test_a_non_finite_forward_pass_is_a_format_error_naming_the_model():
    torch.manual_seed(0)
    net = small(build_model("rgbd-tiny").eval())
    net.card = {"name": "my-weights"}
    net.predict(frame())  # finite weights: fine
    with torch.no_grad():
        next(net.decoder.parameters()).fill_(float("nan"))
    with pytest.raises(FormatError, match="my-weights.*NaN or inf.*corrupt"):
        net.predict(frame())
    with pytest.raises(FormatError, match="NaN or inf"):
        net.predict(frame(), flip=True)


def test_a_pipeline_skips_the_frames_of_a_corrupt_model_and_says_why():
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.synth import TextureBank, generate_sequence

    seq = generate_sequence(2, 4, size=HW, bank=TextureBank(0))
    torch.manual_seed(0)
    net = small(build_model("rgbd-tiny").eval())
    with torch.no_grad():
        for p in net.decoder.parameters():
            p.fill_(float("nan"))
    pipe = Pipeline(PipelineConfig(graph_every=0, costmap_every=0), segmenter=net, rgb_segmenter=None)
    s = pipe.run(seq)
    assert s.counts["skipped"] == len(seq) and s.counts["fused"] == 0
    assert all("segmentation failed" in r and "NaN or inf" in r for _, r in s.skipped)


def test_the_depth_message_names_the_model_asked_for():
    net = create_model("rgbd-default")
    with pytest.raises(InputError, match="^rgbd-default needs depth"):
        net.predict(frame(depth=False))


# ---------------------------------------------------------------------------- ONNX (defect 9)
@pytest.fixture(scope="module")
def onnx_graph(tmp_path_factory):
    from real3d.deploy import export_onnx

    torch.manual_seed(0)
    net = build_model("rgb-tiny").eval()
    return export_onnx(net, tmp_path_factory.mktemp("onnx") / "rgb-tiny.onnx", size_hw=(64, 64))


def _damaged_graphs(src, dst):
    data = src.read_bytes()
    flipped = bytearray(data)
    for i in range(0, 400, 3):  # the protobuf structure at the start of the file
        flipped[i] ^= 0xFF
    cases = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "flipped": bytes(flipped),
        "text": b"this is not a graph\n",
    }
    for name, blob in cases.items():
        p = dst / f"{name}.onnx"
        p.write_bytes(blob)
        yield name, p


def test_damaged_onnx_files_are_format_errors(onnx_graph, tmp_path):
    from real3d.deploy import OrtSegmenter

    OrtSegmenter(onnx_graph).predict(frame(depth=False))
    for name, p in _damaged_graphs(onnx_graph, tmp_path):
        with pytest.raises(FormatError, match="OrtSegmenter") as e:
            OrtSegmenter(p)
        assert str(p) in str(e.value), name
    with pytest.raises(FormatError, match="no such"):
        OrtSegmenter(tmp_path / "missing.onnx")


def test_an_onnx_graph_without_real3d_metadata_is_a_format_error(onnx_graph, tmp_path):
    import onnx

    from real3d.deploy import OrtSegmenter

    m = onnx.load(str(onnx_graph))
    for prop in m.metadata_props:
        if prop.key == "real3d.config":
            prop.value = '{"name": "x", "fusion": "rgb", "infer_hw": [-32, 0]}'
    onnx.save(m, str(tmp_path / "badmeta.onnx"))
    with pytest.raises(FormatError, match="real3d.config"):
        OrtSegmenter(tmp_path / "badmeta.onnx")


def test_a_corrupt_export_cache_entry_is_rebuilt(tmp_path):
    from real3d.deploy.runtime import CacheRebuiltWarning, digest_path

    torch.manual_seed(0)
    w = save_weights(build_model("rgb-tiny").eval(), tmp_path / "w" / "model.safetensors")
    cache = tmp_path / "cache"
    seg = create_model(w, backend="onnx", cache_dir=cache)
    want = seg.predict(frame(depth=False)).labels
    graphs = sorted((cache / "onnx").glob("*.onnx"))
    assert len(graphs) == 1 and digest_path(graphs[0]).is_file()
    g = graphs[0]
    good = g.read_bytes()
    # damage that onnxruntime notices (truncation) and damage only the digest notices
    # (flipped bytes in the weights near the end of the file)
    flipped = bytearray(good)
    for i in range(len(good) - 200, len(good) - 100):
        flipped[i] ^= 0x01
    for damaged in (good[: len(good) // 3], b"", bytes(flipped)):
        g.write_bytes(damaged)
        with pytest.warns(CacheRebuiltWarning, match="corrupt"):
            seg = create_model(w, backend="onnx", cache_dir=cache)
        assert np.array_equal(seg.predict(frame(depth=False)).labels, want)
        assert g.read_bytes() == good and digest_path(g).read_text().strip() == file_sha256(g)
        from real3d.deploy import runtime

        runtime._WARNED.clear()  # the warning comes once per path and process
    # a graph cached without a digest (an older real3d) is checked by loading it and kept
    digest_path(g).unlink()
    stamp = g.stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheRebuiltWarning)
        create_model(w, backend="onnx", cache_dir=cache)
    assert g.stat().st_mtime_ns == stamp and digest_path(g).is_file()


# ---------------------------------------------------------------------------- maps (defect 9)
@pytest.fixture()
def saved_map(tmp_path):
    m = SemanticMap(voxel_size_m=0.1)
    m.integrate(frame())
    assert len(m) > 0
    return m.save(tmp_path / "map.npz")


def _rewrite_npz(src, dst, **changes):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez_compressed(dst, **arrays)
    return dst


def test_damaged_map_files_are_format_errors(saved_map, tmp_path):
    assert len(SemanticMap.load(saved_map)) > 0
    data = saved_map.read_bytes()
    flipped = bytearray(data)
    for i in range(len(data) // 3, len(data) // 3 + 200):
        flipped[i] ^= 0xFF
    zip_garbage = b"PK\x03\x04" + bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))
    for name, blob in {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "flipped": bytes(flipped),
        "zip-garbage": zip_garbage,
        "text": b"hello",
    }.items():
        p = tmp_path / f"{name}.npz"
        p.write_bytes(blob)
        with pytest.raises(FormatError, match="SemanticMap.load"):
            SemanticMap.load(p)


def test_map_files_with_wrong_keys_or_shapes_are_format_errors(saved_map, tmp_path):
    with np.load(saved_map) as z:
        n = z["keys"].shape[0]
        keys = z["keys"]
        configs = z["config_values"]
    cases = {
        "no-tsdf": {"tsdf": None},
        "short-tsdf": {"tsdf": np.zeros(1, np.float32)},  # would broadcast over every voxel
        "flat-color": {"color": np.zeros(n * 3, np.float32)},
        "evidence-columns": {"log_evidence": np.zeros((n, 3), np.float32)},
        "repeated-keys": {"keys": np.concatenate([keys[:1], keys[:1], keys[2:]])},
        "float-keys": {"keys": keys.astype(np.float64)},
        "string-version": {"format_version": np.array("three")},
        "newer": {"format_version": np.array(99)},
        "bad-config": {"config_values": np.full_like(configs, -1.0)},
        "nan-config": {"config_values": np.full_like(configs, np.nan)},
        "cameras": {"camera_positions": np.zeros((2, 2))},
        "frames": {"frames_integrated": np.array(-3)},
    }
    for name, changes in cases.items():
        p = _rewrite_npz(saved_map, tmp_path / f"{name}.npz", **changes)
        with pytest.raises(FormatError, match="SemanticMap.load") as e:
            SemanticMap.load(p)
        assert str(p) in str(e.value), name


def test_damaged_map_samples_are_format_errors(tmp_path):
    from real3d.train.map_data import MapSample

    n = 5
    s = MapSample(
        coords=np.zeros((n, 3), np.int32),
        voxel_size_m=0.05,
        tsdf=np.zeros(n, np.float32),
        weight=np.ones(n, np.float32),
        color=np.zeros((n, 3), np.float32),
        log_evidence=np.zeros((n, 13), np.float32),
        class_weight=np.zeros(n, np.float32),
        surface=np.ones(n, bool),
        points=np.zeros((n, 3), np.float32),
        labels=np.zeros(n, np.uint8),
        instances=np.zeros(n, np.int32),
        free_coords=np.zeros((0, 3), np.int32),
        free_voxel_size_m=0.2,
    )
    path = s.save(tmp_path / "s.npz")
    assert len(MapSample.load(path)) == n
    data = path.read_bytes()
    flipped = bytearray(data)
    for i in range(len(data) // 2, len(data) // 2 + 100):
        flipped[i] ^= 0xFF
    for name, blob in {"truncated": data[: len(data) // 2], "flipped": bytes(flipped), "empty": b""}.items():
        (tmp_path / f"{name}.npz").write_bytes(blob)
        with pytest.raises(FormatError, match="MapSample.load"):
            MapSample.load(tmp_path / f"{name}.npz")
    for header in (
        [1, 2],
        {"version": 1, "voxel_size_m": "abc", "free_voxel_size_m": 0.2},
        {"version": 1, "voxel_size_m": float("nan"), "free_voxel_size_m": 0.2},
        {"version": 1, "voxel_size_m": 0.05, "free_voxel_size_m": 0.2, "meta": [1]},
    ):
        p = _rewrite_npz(path, tmp_path / "h.npz", header=np.frombuffer(json.dumps(header).encode(), np.uint8))
        with pytest.raises(FormatError, match="MapSample.load"):
            MapSample.load(p)
    with zipfile.ZipFile(tmp_path / "nozip.npz", "w") as zf:
        zf.writestr("header.npy", b"garbage")
    with pytest.raises(FormatError, match="MapSample.load"):
        MapSample.load(tmp_path / "nozip.npz")


# ---------------------------------------------------------------------------- command-line values (defect 9)
class _Forbidden(Exception):
    pass


def _forbid(*_a, **_k):
    raise _Forbidden("work started before the arguments were checked")


@pytest.fixture()
def no_work(monkeypatch):
    """Make every expensive step of the commands fail loudly: a bad value must be refused
    before any of them starts."""
    import real3d.models
    import real3d.train
    import real3d.train.data
    import real3d.train.seg3d

    monkeypatch.setattr(real3d.models, "create_model", _forbid)
    monkeypatch.setattr(real3d.train, "train", _forbid)
    monkeypatch.setattr(real3d.train.data, "open_data", _forbid)
    monkeypatch.setattr(real3d.train.seg3d, "train_seg3d", _forbid)
    monkeypatch.setattr(real3d.models.seg3d, "create_seg3d", _forbid)
    import real3d.train.box_refiner

    monkeypatch.setattr(real3d.train.box_refiner, "collect_samples", _forbid)


@pytest.mark.parametrize(
    "args, option",
    [
        (["export", "--size", "0x0"], "--size"),
        (["export", "--size", "-32x64"], "--size"),
        (["export", "--size", "30x40"], "--size"),
        (["export", "--size", "big"], "--size"),
        (["export", "--calib-frames", "-1"], "--calib-frames"),
        (["export", "--calib-frames", "0", "--int8"], "--calib-frames"),
        (["export", "--int8-target", "nan"], "--int8-target"),
        (["export", "--head", "middle"], "--head"),
        (["train", "seg", "--size", "0x0"], "--size"),
        (["train", "seg", "--size", "60x96"], "--size"),
        (["train", "seg", "--lr", "nan"], "lr"),
        (["train", "seg", "--lr", "-1"], "lr"),
        (["train", "seg", "--lr", "0"], "--lr"),
        (["train", "seg", "--lr", "inf"], "lr"),
        (["train", "seg", "--warmup", "-1"], "warmup_steps"),
        (["train", "seg", "--workers", "-2"], "workers"),
        (["train", "seg", "--ckpt-every", "0"], "ckpt_every"),
        (["train", "seg", "--threads", "-1"], "threads"),
        (["train", "seg", "--grad-clip", "nan"], "grad_clip"),
        (["train", "seg", "--distill-weight", "inf"], "distill_weight"),
        (["train", "seg3d", "--data", "DATA", "--lr", "nan"], "lr"),
        (["train", "seg3d", "--data", "DATA", "--crop", "0"], "crop_m"),
        (["train", "seg3d", "--data", "DATA", "--ckpt-every", "-1"], "checkpoint_every"),
        (["train", "seg3d", "--data", "DATA", "--offset-weight", "nan"], "offset_weight"),
        (["train", "seg3d", "--data", "DATA", "--threads", "-1"], "--threads"),
        (["train", "boxes", "--lr", "nan"], "--lr"),
        (["train", "boxes", "--weight-decay", "-1"], "--weight-decay"),
        (["eval", "seg", "--max-samples", "0"], "--max-samples"),
        (["eval", "seg", "--overlays", "-1"], "--overlays"),
        (["eval", "seg", "--threads", "-1"], "--threads"),
        (["eval", "seg", "--head", "x"], "--head"),
        (["eval", "seg3d", "--model", "seg3d-tiny", "--data", "DATA", "--threads", "-1"], "--threads"),
    ],
)
def test_bad_option_values_are_real3d_errors_before_any_work(no_work, tmp_path, args, option):
    from real3d.cli.main import app

    args = [str(tmp_path) if a == "DATA" else a for a in args] + ["--out", str(tmp_path / "out")]
    if args[:2] == ["eval", "seg3d"]:
        args = args[:-2]  # --out of eval seg3d is optional; keep the call minimal
    r = CliRunner().invoke(app, args)
    assert r.exit_code != 0
    assert isinstance(r.exception, Real3DError), (r.exception, r.output)
    assert option in str(r.exception)
    assert not (tmp_path / "out").exists()


def test_the_command_reports_a_bad_value_as_a_real3d_error(monkeypatch, capsys, no_work):
    from real3d.cli.main import main

    monkeypatch.setattr(sys, "argv", ["real3d", "export", "--size", "0x0"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    assert "real3d: error: --size" in capsys.readouterr().err


def test_training_configs_check_their_values():
    from real3d.train import TrainConfig
    from real3d.train.seg3d import Seg3DTrainConfig

    for bad in (
        {"crop_hw": (0, 0)},
        {"crop_hw": (-32, 64)},
        {"crop_hw": (64,)},
        {"lr": float("nan")},
        {"lr": -1e-3},
        {"weight_decay": float("inf")},
        {"warmup_steps": -1},
        {"steps": True},
        {"ckpt_every": 0},
        {"coarse_weight": float("nan")},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TrainConfig(**bad)
    for bad in (
        {"lr": float("nan")},
        {"lr": float("inf")},
        {"crop_m": 0.0},
        {"warmup": -1},
        {"weight_decay": -1.0},
        {"log_every": 0},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Seg3DTrainConfig(**bad)


def test_create_model_checks_its_counts():
    for kw in ({"calibration_frames": -1}, {"calibration_frames": 0}, {"threads": -2}, {"threads": 1.5}):
        with pytest.raises(ConfigError, match=next(iter(kw))):
            create_model("rgbd-tiny", backend="int8", **kw)
