import dataclasses
import json
import socket

import pytest
import torch

from real3d.core.errors import ConfigError
from real3d.models import build_model, load_weights, save_weights
from real3d.models.pretrained import WEIGHTS_DIR
from real3d.train import ToySegData, TrainConfig, lr_at, train
from real3d.train.checkpoint import load_checkpoint


def _cfg(tmp_path, name, **kw):
    base = dict(
        preset="rgbd-tiny",
        out_dir=str(tmp_path / name),
        steps=4,
        batch_size=4,
        crop_hw=(64, 96),
        warmup_steps=1,
        weight_samples=4,
        ckpt_every=100,
        lr=3e-3,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_two_iterations_lower_the_loss(tmp_path):
    # the whole 4-sample set in every batch, no augmentation: the second step sees the
    # same pixels, so its loss must be lower after one AdamW step
    cfg = _cfg(tmp_path, "a", steps=2, augment=None, amp="off")
    s = train(cfg, dataset=ToySegData(4), resume=False, progress=False)
    assert len(s["losses"]) == 2 and s["losses"][1] < s["losses"][0]
    out = tmp_path / "a"
    rows = (out / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,epoch,loss") and len(rows) == 3
    card = json.loads((out / "model.json").read_text())
    assert card["preset"] == "rgbd-tiny" and card["config"]["fusion"] == "attn"
    first = load_weights(out / "model.safetensors")
    assert first.config.name == "rgbd-tiny"
    # a second phase starts from those weights (lr 0 leaves the parameters where they were)
    cfg2 = _cfg(tmp_path, "b", steps=1, augment=None, amp="off", lr=0.0, init_weights=str(out / "model.safetensors"))
    train(cfg2, dataset=ToySegData(4), resume=False, progress=False)
    second = load_weights(tmp_path / "b" / "model.safetensors")
    for (n, p), (_, q) in zip(first.named_parameters(), second.named_parameters()):
        assert torch.equal(p, q), n
    with pytest.raises(ConfigError, match="differ from the preset rgb-tiny in .*fusion"):
        train(
            _cfg(tmp_path, "c", preset="rgb-tiny", init_weights=str(out / "model.safetensors")),
            dataset=ToySegData(4),
            resume=False,
            progress=False,
        )
    # the inference settings (size, guided upsampling, as the shipped cards tune them) are no
    # part of the architecture: the next phase keeps the weights' own
    first.config = dataclasses.replace(first.config, infer_hw=(64, 96), guide_radius=4, guide_eps=0.01)
    save_weights(first, tmp_path / "hw.safetensors", {})
    train(
        _cfg(tmp_path, "d", steps=1, init_weights=str(tmp_path / "hw.safetensors")),
        dataset=ToySegData(4),
        resume=False,
        progress=False,
    )
    tuned = load_weights(tmp_path / "d" / "model.safetensors").config
    assert (tuned.infer_hw, tuned.guide_radius, tuned.guide_eps) == ((64, 96), 4, 0.01)


def test_init_by_shipped_name_starts_from_the_shipped_weights(tmp_path):
    shipped = load_weights(WEIGHTS_DIR / "rgbd-default.safetensors")
    cfg = _cfg(
        tmp_path,
        "s",
        preset=shipped.config.name,
        steps=1,
        augment=None,
        amp="off",
        lr=0.0,
        crop_hw=(64, 96),
        init_weights="rgbd-default",
    )
    train(cfg, dataset=ToySegData(4), resume=False, progress=False)
    out = load_weights(tmp_path / "s" / "model.safetensors")
    assert out.config.infer_hw == shipped.config.infer_hw
    for (n, p), (_, q) in zip(shipped.named_parameters(), out.named_parameters()):
        assert torch.equal(p, q), n
    with pytest.raises(ConfigError, match="differ from the preset rgbd-tiny"):
        train(_cfg(tmp_path, "t", init_weights="rgbd-default"), dataset=ToySegData(4), resume=False, progress=False)


def test_resume_gives_the_same_steps_as_an_uninterrupted_run(tmp_path):
    data = ToySegData(6)
    full = train(_cfg(tmp_path, "full"), dataset=data, resume=False, progress=False)
    part = train(_cfg(tmp_path, "part"), dataset=data, resume=False, progress=False, stop_at=2)
    assert part["steps"] == 2 and part["losses"] == full["losses"][:2]
    torch.manual_seed(12345)  # disturb the global RNG: the checkpoint must restore it
    rest = train(_cfg(tmp_path, "part"), dataset=data, resume=True, progress=False)
    assert rest["losses"] == full["losses"][2:]
    a, b = build_model("rgbd-tiny"), build_model("rgbd-tiny")
    load_checkpoint(tmp_path / "full" / "ckpt" / "last", a, restore_rng=False)
    load_checkpoint(tmp_path / "part" / "ckpt" / "last", b, restore_rng=False)
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q), n


def test_lr_schedule_and_config_checks():
    cfg = TrainConfig(steps=100, warmup_steps=10, lr=1.0)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(99, cfg) < 0.02 and lr_at(55, cfg) == pytest.approx(0.505, abs=0.01)
    with pytest.raises(ConfigError):
        TrainConfig(amp="fp8")
    with pytest.raises(ConfigError):
        TrainConfig(grad_clip=-1.0)
    with pytest.raises(ConfigError):
        TrainConfig(crop_hw=(60, 96))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out_dir, result_dir):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    cfg = TrainConfig(
        preset="rgb-tiny",
        out_dir=out_dir,
        steps=2,
        batch_size=2,
        crop_hw=(32, 48),
        warmup_steps=1,
        weight_samples=2,
        amp="off",
    )
    s = train(cfg, dataset=ToySegData(8, (32, 48)), resume=False, progress=False)
    from safetensors.torch import save_file
    from torch import distributed as dist

    save_file({"loss": torch.tensor(s["losses"])}, os.path.join(result_dir, f"r{rank}.safetensors"))
    dist.destroy_process_group()


def test_data_parallel_two_processes_gloo(tmp_path):
    import torch.multiprocessing as mp
    from safetensors.torch import load_file

    res = tmp_path / "res"
    res.mkdir()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path / "ddp"), str(res)), nprocs=2, join=True)
    l0, l1 = load_file(str(res / "r0.safetensors"))["loss"], load_file(str(res / "r1.safetensors"))["loss"]
    # losses are all-reduced, so both ranks log the same global loss
    assert torch.equal(l0, l1) and torch.isfinite(l0).all()
    card = json.loads((tmp_path / "ddp" / "model.json").read_text())
    assert card["world_size"] == 2
    assert load_weights(tmp_path / "ddp" / "model.safetensors").config.name == "rgb-tiny"


def test_a_non_finite_step_is_skipped_and_leaves_the_weights(tmp_path, monkeypatch):
    import real3d.train.loop as loop

    real_loss = loop.seg_loss
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        out = real_loss(*a, **k)
        return out * float("nan") if calls["n"] == 2 else out  # an overflow on step 2

    # The same 2-step schedule stopped after step 1, without the overflow ...
    train(
        _cfg(tmp_path, "ref", steps=2, augment=None, amp="off"),
        dataset=ToySegData(4),
        resume=False,
        progress=False,
        stop_at=1,
    )
    monkeypatch.setattr(loop, "seg_loss", flaky)
    # ... holds the weights that the run whose step 2 overflowed ends with.
    two = train(
        _cfg(tmp_path, "two", steps=2, augment=None, amp="off"), dataset=ToySegData(4), resume=False, progress=False
    )
    assert two["skipped_steps"] == 1
    a = build_model("rgbd-tiny")
    load_checkpoint(tmp_path / "ref" / "ckpt" / "last", a, restore_rng=False)
    b = load_weights(tmp_path / "two" / "model.safetensors")
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):  # BN statistics too
        assert torch.isfinite(q.float()).all() and torch.equal(p, q), n
    rows = (tmp_path / "two" / "log.csv").read_text().strip().splitlines()
    assert rows[0].endswith(",skipped") and rows[-1].endswith(",1")


def test_amp_auto_uses_bf16_only_where_native_and_resume_keeps_it(tmp_path, monkeypatch):
    import real3d.train.loop as loop

    assert TrainConfig().amp == "auto"
    assert loop.resolve_amp("off") == "off" and loop.resolve_amp("bf16") == "bf16"
    monkeypatch.setattr(loop, "bf16_is_native", lambda: False)
    assert loop.resolve_amp("auto") == "off"
    monkeypatch.setattr(loop, "bf16_is_native", lambda: True)
    assert loop.resolve_amp("auto") == "bf16"
    # a run started where bf16 is native and resumed where it is not stays in bf16
    data = ToySegData(4)
    part = train(_cfg(tmp_path, "p", steps=2), dataset=data, resume=False, progress=False, stop_at=1)
    assert part["amp"] == "bf16"
    monkeypatch.setattr(loop, "bf16_is_native", lambda: False)
    rest = train(_cfg(tmp_path, "p", steps=2), dataset=data, resume=True, progress=False)
    assert rest["amp"] == "bf16"
    assert json.loads((tmp_path / "p" / "model.json").read_text())["amp"] == "bf16"
    fresh = train(_cfg(tmp_path, "q", steps=1), dataset=data, resume=False, progress=False)
    assert fresh["amp"] == "off"


def test_device_is_checked_and_auto_precision_follows_it(monkeypatch):
    import real3d.train.loop as loop

    for bad in ("gpu", "cuda0", "tpu"):
        with pytest.raises(ConfigError, match="device"):
            TrainConfig(device=bad)
    monkeypatch.setattr(loop, "bf16_is_native", lambda: False)
    assert loop.resolve_amp("auto", "cuda") == "bf16" and loop.resolve_amp("auto", "cpu") == "off"
    assert loop.resolve_amp("off", "cuda") == "off"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device"):
        loop._resolve_device("cuda", 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_lowers_the_loss_and_resumes_exactly(tmp_path):
    # An interrupted run resumed from its checkpoint goes on where the uninterrupted run
    # goes. CUDA's cross-entropy and upsampling backward add with atomics in no fixed order,
    # so two identical GPU runs already differ by ~1e-2 of the loss after a few steps (seen on
    # an H200): the comparison allows for that, which a restart from step 0 (loss ~3.8
    # against ~1.3) or a lost optimizer state would still fail.
    data = ToySegData(6)
    kw = dict(device="cuda", amp="off")
    full = train(_cfg(tmp_path, "full", steps=6, **kw), dataset=data, resume=False, progress=False)
    assert full["device"].startswith("cuda") and full["losses"][-1] < full["losses"][0]
    part = train(_cfg(tmp_path, "part", steps=6, **kw), dataset=data, resume=False, progress=False, stop_at=3)
    rest = train(_cfg(tmp_path, "part", steps=6, **kw), dataset=data, resume=True, progress=False)
    assert len(part["losses"]) == 3 and len(rest["losses"]) == 3 and rest["steps"] == 6
    assert part["losses"] + rest["losses"] == pytest.approx(full["losses"], rel=0.05)
    net = load_weights(tmp_path / "full" / "model.safetensors")
    assert all(p.device.type == "cpu" for p in net.parameters())
    assert json.loads((tmp_path / "full" / "model.json").read_text())["device"] == "cuda"
    bf = train(_cfg(tmp_path, "bf", steps=4, device="cuda"), dataset=data, resume=False, progress=False)
    assert bf["amp"] == "bf16" and all(map(torch.isfinite, map(torch.tensor, bf["losses"])))


def test_imagenet_init_starts_the_mobilenet_encoder_and_is_recorded(tmp_path):
    from safetensors.torch import load_file

    from real3d.models.imagenet import convert_mobilenetv2, sha256_file, write_backbone_weights
    from real3d.nn.mobilenet import MobileNetV2Features

    torch.manual_seed(3)
    state = {
        k: (torch.randn_like(v) if v.is_floating_point() else v)
        for k, v in MobileNetV2Features(with_head=True).state_dict().items()
    }
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 0.5
    torch.save(state, tmp_path / "src.pt")
    path = write_backbone_weights(
        convert_mobilenetv2(tmp_path / "src.pt", expected_sha256=sha256_file(tmp_path / "src.pt")),
        tmp_path / "bb.safetensors",
    )
    cfg = _cfg(
        tmp_path,
        "m",
        preset="rgb-mnv2",
        steps=1,
        augment=None,
        amp="off",
        lr=1e-12,
        weight_decay=0.0,
        imagenet_init=str(path),
    )
    train(cfg, dataset=ToySegData(4), resume=False, progress=False)
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert card["pretrained"]["encoders"] == ["encoder"] and card["pretrained"]["origin"]["licence"].startswith("MIT")
    trained = load_weights(tmp_path / "m" / "model.safetensors")
    src = load_file(str(path))
    enc = trained.encoder.state_dict()
    # one step at a vanishing learning rate: the convolutions are still the ImageNet ones
    conv = [k for k in src if k in enc and k.endswith("weight") and src[k].ndim == 4]
    assert conv and all(torch.allclose(enc[k], src[k], atol=1e-6) for k in conv)


class _WarehouseToy(torch.utils.data.Dataset):
    """ToySegData with its classes renamed into the warehouse set (wall, floor, and a rack,
    a package or a pallet where the toy has its box)."""

    label_set = "warehouse"

    def __init__(self, n):
        from real3d.core import WAREHOUSE

        self.toy = ToySegData(n)
        self.lut = torch.zeros(14, dtype=torch.int64)
        for nyu, ware in ((12, "wall"), (5, "floor"), (4, "rack"), (10, "package"), (6, "pallet")):
            self.lut[nyu] = WAREHOUSE.index(ware)

    def __len__(self):
        return len(self.toy)

    def __getitem__(self, i):
        s = dict(self.toy[i])
        s["labels"] = self.lut[s["labels"]]
        return s


def test_warehouse_labels_round_trip_through_training(tmp_path):
    from real3d.core import WAREHOUSE
    from real3d.eval import evaluate_segmentation

    data = _WarehouseToy(4)
    cfg = _cfg(tmp_path, "w", steps=2, augment=None, amp="off", labels="warehouse")
    s = train(cfg, dataset=data, resume=False, progress=False)
    assert s["losses"][1] < s["losses"][0]
    card = json.loads((tmp_path / "w" / "model.json").read_text())
    assert card["config"]["label_set"] == "warehouse" and card["config"]["num_classes"] == WAREHOUSE.num_classes
    net = load_weights(tmp_path / "w" / "model.safetensors")
    assert net.label_set is WAREHOUSE
    m = evaluate_segmentation(net, data, out_dir=tmp_path / "eval")
    assert m.confusion.shape == (14, 14)
    scores = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(scores["iou"]) == set(WAREHOUSE.names[1:])
    # NYUv2-13 models keep their cards as they were: no label_set entry
    assert "label_set" not in build_model("rgbd-tiny").config.to_dict()
    # the preset carries the set; data in another set is refused before a step is taken
    assert build_model("rgbd-warehouse").label_set is WAREHOUSE
    nyu = ToySegData(4)
    nyu.label_set = "nyu13"
    with pytest.raises(ConfigError, match="labels are nyu13, the model learns warehouse"):
        train(_cfg(tmp_path, "x", preset="rgbd-warehouse"), dataset=nyu, resume=False, progress=False)
    with pytest.raises(ConfigError, match="the data's labels are nyu13, the model predicts warehouse"):
        evaluate_segmentation(net, nyu)
    with pytest.raises(ConfigError, match="TrainConfig.labels: unknown label set 'warehous'"):
        _cfg(tmp_path, "y", labels="warehous")
    # a teacher of another label set with as many classes would teach the wrong classes
    with pytest.raises(ConfigError, match="predicts nyu13 classes, the student learns warehouse"):
        train(
            _cfg(tmp_path, "z", labels="warehouse", teacher="rgbd-default"),
            dataset=data,
            resume=False,
            progress=False,
        )


def test_init_from_another_label_set_keeps_all_but_the_class_heads(tmp_path):
    torch.manual_seed(3)
    src = build_model("rgbd-tiny")
    save_weights(src, tmp_path / "nyu.safetensors", {})
    cfg = _cfg(
        tmp_path,
        "w",
        steps=1,
        augment=None,
        amp="off",
        lr=0.0,
        labels="warehouse",
        crop_hw=(48, 64),
        init_weights=str(tmp_path / "nyu.safetensors"),
    )
    train(cfg, dataset=ToySegData(4, size_hw=(48, 64)), resume=False, progress=False)
    out = load_weights(tmp_path / "w" / "model.safetensors")
    assert out.config.label_set == "warehouse"
    heads = 0
    # lr 0: the parameters stay where they started (BatchNorm statistics move)
    for (n, p), (_, q) in zip(src.named_parameters(), out.named_parameters()):
        if n.startswith(("decoder.coarse_head.", "decoder.refine_head.")):
            heads += 1
            assert not torch.equal(p, q), n
        else:
            assert torch.equal(p, q), n
    assert heads == 4
    card = json.loads((tmp_path / "w" / "model.json").read_text())
    assert card["init"]["class_heads"] == "new" and card["init"]["label_set"] == "nyu13"
    assert card["init"]["weights"] == str(tmp_path / "nyu.safetensors") and len(card["init"]["sha256"]) == 64
    # the same label set keeps the heads
    train(
        _cfg(
            tmp_path,
            "n",
            steps=1,
            augment=None,
            amp="off",
            lr=0.0,
            crop_hw=(48, 64),
            init_weights=str(tmp_path / "nyu.safetensors"),
        ),
        dataset=ToySegData(4, size_hw=(48, 64)),
        resume=False,
        progress=False,
    )
    assert json.loads((tmp_path / "n" / "model.json").read_text())["init"]["class_heads"] == "kept"
