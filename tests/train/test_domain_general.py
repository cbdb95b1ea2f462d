"""TrainConfig's options for keeping pretrained encoder features: a lower encoder learning
rate, frozen encoder BatchNorm, and the feature distance to the ImageNet encoder."""

import pytest
import torch

from real3d.core.errors import ConfigError
from real3d.models import get_preset, load_weights
from real3d.train import ToySegData, TrainConfig, train
from real3d.train.loop import _FeatureAnchor, _encoder_norms, _model_and_optimizer


def _backbone(tmp_path, seed=3):
    """Random 'ImageNet' MobileNetV2 weights converted as the real import converts them."""
    from real3d.models.imagenet import convert_mobilenetv2, sha256_file, write_backbone_weights
    from real3d.nn.mobilenet import MobileNetV2Features

    torch.manual_seed(seed)
    state = {
        k: (torch.randn_like(v) * 0.1 if v.is_floating_point() else v)
        for k, v in MobileNetV2Features(with_head=True).state_dict().items()
    }
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 0.5
    torch.save(state, tmp_path / "src.pt")
    return write_backbone_weights(
        convert_mobilenetv2(tmp_path / "src.pt", expected_sha256=sha256_file(tmp_path / "src.pt")),
        tmp_path / "bb.safetensors",
    )


def _cfg(tmp_path, **kw):
    base = dict(
        preset="rgb-mnv2",
        out_dir=str(tmp_path / "run"),
        steps=2,
        batch_size=2,
        crop_hw=(64, 96),
        warmup_steps=0,
        weight_samples=2,
        ckpt_every=100,
        lr=1e-3,
        amp="off",
        augment=None,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_encoder_lr_scale_puts_the_encoders_in_their_own_groups(tmp_path):
    cfg = _cfg(tmp_path, encoder_lr_scale=0.1)
    model, opt = _model_and_optimizer(cfg, get_preset("rgb-mnv2"))
    scales = [g.get("lr_scale", 1.0) for g in opt.param_groups]
    assert scales == [1.0, 1.0, 0.1, 0.1]
    enc_ids = {id(p) for p in model.encoder.parameters()}
    for g in opt.param_groups:
        in_enc = [id(p) in enc_ids for p in g["params"]]
        assert all(in_enc) if g.get("lr_scale") else not any(in_enc)
    # one rate: the two groups of before (checkpoints of earlier runs resume)
    _, opt1 = _model_and_optimizer(_cfg(tmp_path), model.config)
    assert len(opt1.param_groups) == 2


def test_a_lower_encoder_rate_moves_the_encoder_less(tmp_path):
    path = _backbone(tmp_path)
    moved = {}
    for scale in (1.0, 0.01):
        cfg = _cfg(tmp_path, out_dir=str(tmp_path / f"s{scale}"), imagenet_init=str(path), encoder_lr_scale=scale)
        train(cfg, dataset=ToySegData(4), resume=False, progress=False)
        net = load_weights(tmp_path / f"s{scale}" / "model.safetensors")
        ref = load_weights(tmp_path / f"s{scale}" / "model.safetensors")
        from real3d.models.imagenet import init_from_imagenet

        init_from_imagenet(ref, path)
        moved[scale] = sum(
            float((a - b).abs().sum())
            for (k, a), b in zip(net.encoder.state_dict().items(), ref.encoder.state_dict().values())
            if k.endswith("weight") and a.ndim == 4
        )
    assert moved[0.01] < 0.2 * moved[1.0]


def test_frozen_encoder_bn_keeps_the_imagenet_statistics(tmp_path):
    path = _backbone(tmp_path)
    cfg = _cfg(tmp_path, imagenet_init=str(path), freeze_encoder_bn=True, lr=1e-2)
    train(cfg, dataset=ToySegData(4), resume=False, progress=False)
    from real3d.models.imagenet import init_from_imagenet

    net = load_weights(tmp_path / "run" / "model.safetensors")
    ref = load_weights(tmp_path / "run" / "model.safetensors")
    init_from_imagenet(ref, path)
    a, b = _encoder_norms(net, cfg), _encoder_norms(ref, cfg)
    assert a and len(a) == len(b)
    for m, r in zip(a, b):
        for name in ("running_mean", "running_var", "weight", "bias"):
            assert torch.equal(getattr(m, name), getattr(r, name)), name
    # the convolutions did train
    conv = [(x, y) for x, y in zip(net.encoder.parameters(), ref.encoder.parameters()) if x.ndim == 4]
    assert any(not torch.equal(x, y) for x, y in conv)


def test_feature_distance_is_zero_at_the_start_and_grows_as_the_encoder_moves(tmp_path):
    from real3d.models import build_model
    from real3d.models.imagenet import init_from_imagenet

    path = _backbone(tmp_path)
    model = build_model("rgb-mnv2")
    init_from_imagenet(model, path)
    model.eval()
    anchor = _FeatureAnchor(model, path)
    rgb = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        model(rgb)  # the hook keeps the forward's features
        assert float(anchor.loss(rgb)) == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        model(rgb)
        assert float(anchor.loss(rgb)) > 1e-3


def test_feature_distance_pulls_the_encoder_back(tmp_path):
    """The same run with the term moves the encoder's features less from ImageNet's."""

    path = _backbone(tmp_path)
    rgb = torch.rand(2, 3, 64, 96)
    dist = {}
    for w in (0.0, 50.0):
        out = tmp_path / f"w{w}"
        cfg = _cfg(tmp_path, out_dir=str(out), imagenet_init=str(path), feature_distance_weight=w, steps=4, lr=3e-3)
        if w == 0.0:
            cfg = _cfg(tmp_path, out_dir=str(out), imagenet_init=str(path), steps=4, lr=3e-3)
        train(cfg, dataset=ToySegData(4), resume=False, progress=False)
        net = load_weights(out / "model.safetensors").eval()
        anchor = _FeatureAnchor(net, path)
        with torch.no_grad():
            net(rgb)
            dist[w] = float(anchor.loss(rgb))
    assert dist[50.0] < dist[0.0]


def test_bad_options_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="feature_distance_weight"):
        _cfg(tmp_path, feature_distance_weight=1.0)
    with pytest.raises(ConfigError, match="encoder_lr_scale"):
        _cfg(tmp_path, encoder_lr_scale=-1.0)
    with pytest.raises(ConfigError, match="freeze_encoder_bn"):
        _cfg(tmp_path, freeze_encoder_bn="yes")
    from real3d.models import build_model

    with pytest.raises(ConfigError, match="MobileNetV2"):
        _FeatureAnchor(build_model("rgb-small"), tmp_path / "none.safetensors")


def test_a_random_depth_encoder_beside_an_imagenet_one_trains_at_the_full_rate(tmp_path):
    """rgbd-mnv2 with imagenet_init: only the MobileNetV2 RGB encoder is pretrained, so only it
    gets the lower rate and frozen BatchNorm; the depth encoder starts random and learns fully."""
    cfg = _cfg(tmp_path, preset="rgbd-mnv2", imagenet_init="auto", encoder_lr_scale=0.1, freeze_encoder_bn=True)
    model, opt = _model_and_optimizer(cfg, get_preset("rgbd-mnv2"))
    scaled = {id(p) for g in opt.param_groups if g.get("lr_scale") for p in g["params"]}
    assert scaled and scaled <= {id(p) for p in model.encoder.parameters()}
    assert not scaled & {id(p) for p in model.depth_encoder.parameters()}
    norms = _encoder_norms(model, cfg)
    assert norms and all(any(m is n for n in model.encoder.modules()) for m in norms)
    assert all(p.requires_grad for p in model.depth_encoder.parameters())
    # starting from other weights, every encoder counts as pretrained
    cfg2 = _cfg(tmp_path, preset="rgbd-mnv2", encoder_lr_scale=0.1)
    model2, opt2 = _model_and_optimizer(cfg2, get_preset("rgbd-mnv2"))
    scaled2 = {id(p) for g in opt2.param_groups if g.get("lr_scale") for p in g["params"]}
    assert {id(p) for p in model2.depth_encoder.parameters()} <= scaled2
