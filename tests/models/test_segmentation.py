import dataclasses
import json
import pickle
import warnings

import numpy as np
import pytest
import torch

from real3d.core import Frame, Intrinsics
from real3d.core.errors import ConfigError, InputError
from real3d.models import (
    PRESETS,
    PRETRAINED,
    SegNetConfig,
    average_weights,
    build_model,
    get_preset,
    load_pretrained,
    load_weights,
    logits_to_result,
    network_size,
    save_weights,
)


def _frame(h, w, depth=True, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    d = rng.uniform(0.5, 6.0, (h, w)).astype(np.float32) if depth else None
    return Frame(rgb=rgb, depth_m=d, intrinsics=Intrinsics.from_fov(w, h, 1.0))


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_contract(name):
    torch.manual_seed(0)
    m = build_model(name).eval()
    cfg = m.config
    assert cfg.name == name and m.exportable in (True, False) and m.quantizable in (True, False)
    rgb, depth = torch.rand(2, 3, 64, 96), torch.rand(2, 1, 64, 96) * 5
    with torch.no_grad():
        refined = m(rgb, depth)
        coarse = m(rgb, depth, head="coarse")
        r2, c2 = m(rgb, depth, head="both")
    assert refined.shape == coarse.shape == (2, 13, 64, 96)
    assert c2.shape == (2, 13, 8, 12) and torch.allclose(r2, refined)
    # any frame size and aspect; the answer comes at the frame's size
    for w, h in ((640, 480), (560, 400), (730, 530)):
        res = m.predict(_frame(h, w, depth=cfg.uses_depth))
        assert res.labels.shape == (h, w) and res.labels.dtype == np.uint8
        assert res.probs.shape == (14, h, w) and res.probs.dtype == np.float32
        assert res.labels.min() >= 1 and res.labels.max() <= 13
        assert np.allclose(res.probs[1:].sum(0), 1.0, atol=1e-4) and not res.probs[0].any()
        assert np.array_equal(res.labels, res.probs.argmax(0))


def test_rgb_only_model_serves_frames_without_depth_and_rgbd_refuses_them():
    frame = _frame(120, 160, depth=False)
    assert build_model("rgb-tiny").predict(frame).labels.shape == (120, 160)
    with pytest.raises(InputError, match="depth"):
        build_model("rgbd-tiny").predict(frame)


def test_bad_inputs_raise_input_error():
    m = build_model("rgbd-tiny").eval()
    rgb, depth = torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96)
    with pytest.raises(InputError, match="multiples of 16"):
        m(torch.rand(1, 3, 60, 96), torch.rand(1, 1, 60, 96))
    with pytest.raises(InputError, match=r"\(B, 3, H, W\)"):
        m(torch.rand(1, 4, 64, 96), depth)
    with pytest.raises(InputError, match="does not match"):
        m(rgb, torch.rand(1, 1, 32, 96))
    with pytest.raises(InputError, match="needs depth_m"):
        m(rgb, None)
    bad = depth.clone()
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        m(rgb, bad)
    with pytest.raises(InputError):
        m(rgb, depth, head="fine")
    with pytest.raises(InputError):
        m.predict(np.zeros((64, 96, 3), np.uint8))
    # a NaN depth never reaches predict: the Frame refuses it with the same error type
    d = np.ones((64, 96), np.float32)
    d[0, 0] = np.nan
    with pytest.raises(InputError):
        Frame(rgb=np.zeros((64, 96, 3), np.uint8), depth_m=d, intrinsics=Intrinsics.from_fov(96, 64, 1.0))


def test_registry_and_config_round_trip():
    with pytest.raises(ConfigError, match="rgbd-small"):
        get_preset("rgbd-huge")
    for cfg in PRESETS.values():
        assert SegNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError):
        SegNetConfig("x", "attn", get_preset("rgb-tiny").rgb_encoder)  # no depth encoder


def test_network_size():
    # sides are multiples of the network's stride (32), so every decoder level lines up
    assert network_size(240, 320, (224, 288)) == (224, 288)
    assert network_size(480, 640, (224, 288)) == (224, 288)
    assert network_size(480, 640, (240, 320)) == (256, 320)  # 240 is not a multiple of 32
    for h, w in ((400, 560), (530, 730), (1080, 1440), (320, 240), (100, 700)):
        for infer in ((240, 320), (224, 288), (480, 640)):
            nh, nw = network_size(h, w, infer)
            assert nh % 32 == 0 and nw % 32 == 0
            assert abs(nh * nw / (infer[0] * infer[1]) - 1) < 0.35
            # no other rounding of the sides to multiples of 32 keeps the aspect better
            err = abs(np.log(nw / nh / (w / h)))
            s = (infer[0] * infer[1] / (h * w)) ** 0.5
            for a in (np.floor(h * s / 32) * 32, np.ceil(h * s / 32) * 32):
                for b in (np.floor(w * s / 32) * 32, np.ceil(w * s / 32) * 32):
                    if a > 0 and b > 0:
                        assert err <= abs(np.log(b / a / (w / h))) + 1e-12
    assert network_size(10, 10, (224, 288), multiple=16) == (256, 256)
    with pytest.raises(InputError, match="network_size"):
        network_size(0, 10, (224, 288))


def test_predict_runs_the_network_at_multiples_of_32():
    torch.manual_seed(0)
    m = build_model("rgbd-tiny").eval()
    seen = []
    hook = m.register_forward_pre_hook(lambda mod, args: seen.append(tuple(args[0].shape[-2:])))
    frame = Frame(
        rgb=np.zeros((240, 320, 3), np.uint8),
        depth_m=np.full((240, 320), 2.0, np.float32),
        intrinsics=Intrinsics.from_fov(320, 240, 1.0),
    )
    try:
        res = m.predict(frame)
    finally:
        hook.remove()
    assert seen == [(256, 320)] and res.labels.shape == (240, 320)


def test_weights_round_trip_without_unpickling(tmp_path, monkeypatch):
    torch.manual_seed(1)
    m = build_model("rgbd-tiny").eval()
    p = save_weights(m, tmp_path / "w.safetensors", {"note": "test"})

    def refuse(*a, **k):
        raise AssertionError("weights must not be unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    m2 = load_weights(p)
    x, d = torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96) * 4
    with torch.no_grad():
        assert torch.equal(m(x, d), m2(x, d))
    assert m2.card["note"] == "test" and m2.card["params"] > 0


def test_save_weights_leaves_no_partial_files(tmp_path, monkeypatch):
    from pathlib import Path

    m = build_model("rgb-tiny").eval()
    good = save_weights(m, tmp_path / "w.safetensors")
    before = good.read_bytes()

    def broken(self, data):
        with open(self, "wb") as f:  # half a file, then the disk fills up
            f.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", broken)
    torch.manual_seed(5)
    with pytest.raises(OSError):
        save_weights(build_model("rgb-tiny"), tmp_path / "w.safetensors")
    assert good.read_bytes() == before  # the earlier weights are untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json", "w.safetensors"]


def test_average_weights_is_the_tensor_mean(tmp_path):
    torch.manual_seed(2)
    a, b = build_model("rgbd-tiny").eval(), build_model("rgbd-tiny").eval()
    with torch.no_grad():
        for m, shift in ((a, 0.0), (b, 1.0)):
            for name, buf in m.named_buffers():
                if "running_mean" in name:
                    buf.add_(shift)
    pa = save_weights(a, tmp_path / "a.safetensors", {"note": "first"})
    pb = save_weights(b, tmp_path / "b.safetensors")
    avg = average_weights([pa, pb], [0.25, 0.75])
    sa, sb, so = a.state_dict(), b.state_dict(), avg.state_dict()
    for k, v in so.items():
        if v.is_floating_point():
            assert torch.allclose(v, 0.25 * sa[k] + 0.75 * sb[k], atol=1e-6), k
        else:
            assert torch.equal(v, sa[k]), k
    assert avg.card["note"] == "first" and not avg.training
    assert avg.card["averaged_from"] == {"weights": [str(pa), str(pb)], "coefficients": [0.25, 0.75]}
    with pytest.raises(ConfigError, match="sum to 1"):
        average_weights([pa, pb], [0.5, 0.6])
    with pytest.raises(ConfigError, match="at least 2"):
        average_weights([pa])
    pc = save_weights(build_model("rgb-tiny"), tmp_path / "c.safetensors")
    with pytest.raises(ConfigError, match="different network"):
        average_weights([pa, pc])


@pytest.mark.parametrize("name", PRETRAINED)
def test_pretrained_weights_load_without_unpickling(name, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("weights must not be unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    m = load_pretrained(name)
    card = m.card
    for key in ("command", "data", "metrics", "size_bytes", "config"):
        assert key in card, key
    frame = _frame(480, 640, depth=m.uses_depth)
    assert m.predict(frame).labels.shape == (480, 640)
    assert name.startswith("rgb-") == (not m.uses_depth)
    assert ("warehouse" in name) == (m.config.label_set == "warehouse")


def test_shipped_weights_under_48_mib():
    from real3d.models.pretrained import WEIGHTS_DIR

    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*") if p.is_file())
    assert total < 48 * 2**20  # 2D networks (homes, warehouses), box refiner, 3D network


@pytest.mark.parametrize("name", ["rgbd-tiny", "rgb-small"])
def test_predict_flip_averages_the_mirrored_frame(name):
    torch.manual_seed(0)
    m = build_model(name).eval()
    frame = _frame(70, 110, depth=m.uses_depth, seed=3)
    mirror = frame.replace(
        rgb=frame.rgb[:, ::-1].copy(), depth_m=None if frame.depth_m is None else frame.depth_m[:, ::-1].copy()
    )
    plain, mirrored, both = m.predict(frame), m.predict(mirror), m.predict(frame, flip=True)
    expect = 0.5 * (plain.probs + mirrored.probs[:, :, ::-1])
    assert both.labels.shape == (70, 110) and np.allclose(both.probs, expect, atol=1e-5)
    assert np.array_equal(both.labels, expect[1:].argmax(0) + 1)
    # a random network is not mirror-symmetric: the average differs from either run
    assert not np.allclose(both.probs, plain.probs, atol=1e-3)
    sym = frame.replace(
        rgb=np.ascontiguousarray(np.concatenate([frame.rgb[:, :55], frame.rgb[:, :55][:, ::-1]], 1)),
        depth_m=None
        if frame.depth_m is None
        else np.ascontiguousarray(np.concatenate([frame.depth_m[:, :55], frame.depth_m[:, :55][:, ::-1]], 1)),
    )
    r = m.predict(sym, flip=True)
    assert np.allclose(r.probs, r.probs[:, :, ::-1], atol=1e-5)


def test_predict_scales_average_the_rescaled_runs():
    torch.manual_seed(0)
    m = build_model("rgbd-tiny").eval()  # infer_hw of the preset, a 70x110 frame resized to it
    frame = _frame(70, 110, seed=4)
    sizes = []
    hook = m.register_forward_pre_hook(lambda mod, args: sizes.append(tuple(args[0].shape[-2:])))
    one, big, both = m.predict(frame), m.predict(frame, scales=(1.5,)), m.predict(frame, scales=(1.0, 1.5))
    hook.remove()
    h1, w1 = sizes[0]
    assert sizes[1] == sizes[3] and sizes[0] == sizes[2]
    assert abs(sizes[1][0] * sizes[1][1] / (h1 * w1) - 2.25) < 0.35  # 1.5x the side, 2.25x the area
    assert both.labels.shape == (70, 110) and np.allclose(both.probs[1:].sum(0), 1.0, atol=1e-5)
    assert np.allclose(both.probs, 0.5 * (one.probs + big.probs), atol=1e-5)
    assert not np.allclose(big.probs, one.probs, atol=1e-3)
    assert np.array_equal(m.predict(frame, scales=[1.0]).probs, one.probs)
    flipped = m.predict(frame, flip=True, scales=(1.0, 1.5))
    assert np.allclose(
        flipped.probs,
        0.5 * (m.predict(frame, flip=True).probs + m.predict(frame, flip=True, scales=(1.5,)).probs),
        atol=1e-5,
    )


@pytest.mark.parametrize("bad", [(), (0.1,), (float("nan"),), (1.0, 5.0), "1.2", [1.0] * 9, ("a",), None])
def test_predict_rejects_bad_scales(bad):
    m = build_model("rgb-tiny").eval()
    with pytest.raises(InputError, match="scales"):
        m.predict(_frame(48, 64, depth=False), scales=bad)


def test_predict_takes_read_only_arrays_quietly():
    # np.asarray(PIL.Image) and memory-mapped captures are read-only
    m = build_model("rgbd-tiny").eval()
    frame = _frame(48, 64, seed=5)
    rgb, depth = frame.rgb.copy(), frame.depth_m.copy()
    rgb.flags.writeable = depth.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = m.predict(frame.replace(rgb=rgb, depth_m=depth))
    assert np.array_equal(r.labels, m.predict(frame).labels)


def test_logits_to_result_labels_are_the_first_most_probable_class():
    logits = torch.randn(1, 13, 6, 7)
    logits[0, 4, 0, :] = logits[0, 9, 0, :] = 50.0  # a tie: the lower class wins, as argmax
    r = logits_to_result(logits, (6, 7))
    assert r.labels.dtype == np.uint8 and r.probs.shape == (14, 6, 7)
    np.testing.assert_array_equal(r.labels, logits[0].numpy().argmax(axis=0) + 1)
    assert (r.labels[0] == 5).all()
    np.testing.assert_array_equal(r.probs[0], 0.0)
    np.testing.assert_allclose(r.probs[1:], torch.softmax(logits[0], 0).numpy(), atol=1e-6)


def _guided(model, radius=2, eps=1e-3):
    model.config = dataclasses.replace(model.config, guide_radius=radius, guide_eps=eps)
    return model


def test_guided_config_is_checked_and_round_trips():
    base = get_preset("rgbd-tiny")
    for bad in (
        {"guide_radius": -1},
        {"guide_radius": True},
        {"guide_radius": 1.5},
        {"guide_eps": 0.0},
        {"guide_eps": float("nan")},
        {"guide_eps": "1e-3"},
        {"guide_eps": True},
    ):
        with pytest.raises(ConfigError, match="guide"):
            dataclasses.replace(base, **bad)
    with pytest.raises(ConfigError, match="guide_radius"):
        dataclasses.replace(get_preset("depth-small"), guide_radius=2)
    cfg = dataclasses.replace(base, guide_radius=3, guide_eps=3e-4)
    assert SegNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = {k: v for k, v in base.to_dict().items() if not k.startswith("guide")}  # a card from before
    assert SegNetConfig.from_dict(old).guide_radius == 0


def test_predict_guided_follows_the_colour_edges():
    torch.manual_seed(0)
    m = build_model("rgbd-tiny").eval()
    frame = _frame(70, 110, seed=6)
    plain = m.predict(frame)
    with pytest.raises(InputError, match="guide_radius"):
        m.predict(frame, guided=True)
    _guided(m)
    g = m.predict(frame)
    assert np.array_equal(m.predict(frame, guided=False).probs, plain.probs)
    assert g.labels.shape == (70, 110) and g.probs.shape == plain.probs.shape
    assert np.allclose(g.probs[1:].sum(0), 1.0, atol=1e-5) and np.all(g.probs[0] == 0)
    assert np.array_equal(g.labels, g.probs[1:].argmax(0) + 1)
    assert not np.allclose(g.probs, plain.probs, atol=1e-3)
    # the guide is the frame's colour image: another image, same network input, other output
    other = frame.replace(rgb=np.ascontiguousarray(255 - frame.rgb))
    g2 = m.predict(other)
    assert not np.allclose(g2.probs, g.probs, atol=1e-3)
    # flip and scales average the guided distributions as they average the plain ones
    mirror = frame.replace(rgb=frame.rgb[:, ::-1].copy(), depth_m=frame.depth_m[:, ::-1].copy())
    both = m.predict(frame, flip=True)
    assert np.allclose(both.probs, 0.5 * (g.probs + m.predict(mirror).probs[:, :, ::-1]), atol=1e-4)
    two = m.predict(frame, scales=(1.0, 1.5))
    assert np.allclose(two.probs, 0.5 * (g.probs + m.predict(frame, scales=(1.5,)).probs), atol=1e-5)


def test_guided_predict_on_a_flat_image_is_finite():
    m = _guided(build_model("rgb-tiny").eval())
    frame = Frame(rgb=np.full((48, 64, 3), 128, np.uint8), depth_m=None, intrinsics=Intrinsics.from_fov(64, 48, 1.0))
    r = m.predict(frame)
    assert np.isfinite(r.probs).all() and np.allclose(r.probs[1:].sum(0), 1.0, atol=1e-5)


def test_guided_predict_of_a_large_frame_filters_at_the_network_size():
    import torch.nn.functional as F

    from real3d.models.segmentation import GUIDED_MAX_AREA, frame_to_tensors, guided_probs

    torch.manual_seed(0)
    m = _guided(build_model("rgbd-tiny").eval())
    frame = _frame(400, 560, seed=7)
    rgb, depth, out_hw = frame_to_tensors(frame, m.config)
    assert out_hw[0] * out_hw[1] > GUIDED_MAX_AREA * rgb.shape[-2] * rgb.shape[-1]
    with torch.no_grad():
        logits = m(rgb, depth)
    p = guided_probs(logits, rgb, 2, 1e-3, guide_low=F.avg_pool2d(rgb, 2)).contiguous()
    expect = F.interpolate(p[None], size=out_hw, mode="bilinear", align_corners=False)[0].numpy()
    r = m.predict(frame)
    assert r.labels.shape == (400, 560) and np.allclose(r.probs[1:], expect, atol=1e-5)


def _boundary_logits(k, h, w, seed):
    """(1, k, h, w) logits with regions of different classes (smooth fields plus steps)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, k, max(2, h // 8), max(2, w // 8), generator=g) * 3
    return torch.nn.functional.interpolate(
        coarse, size=(h, w), mode="bilinear", align_corners=False
    ) + 0.1 * torch.randn(1, k, h, w, generator=g)


@pytest.mark.parametrize(("net_hw", "out_hw"), [((224, 288), (240, 320)), ((64, 96), (100, 150)), ((64, 96), (50, 70))])
def test_resized_argmax_is_the_argmax_of_the_resized_logits(net_hw, out_hw):
    from real3d.models.inference import _resized_argmax

    for seed in range(3):
        t = _boundary_logits(13, *net_hw, seed)
        ref = torch.nn.functional.interpolate(t, size=out_hw, mode="bilinear", align_corners=False)[0].argmax(0)
        got = _resized_argmax(t[0].numpy(), t[0].argmax(0).to(torch.uint8).numpy(), out_hw)
        assert got.shape == out_hw and got.dtype == np.uint8
        # the same class everywhere but where two classes tie within float rounding
        assert (got == ref.numpy()).mean() >= 0.9999


def test_network_result_probs_at_the_network_size_and_labels_at_the_frames():
    from real3d.models.inference import frame_to_tensors

    torch.manual_seed(0)
    m = build_model(dataclasses.replace(get_preset("rgbd-tiny"), infer_hw=(96, 128))).eval()
    for h, w in ((120, 160), (100, 150)):
        frame = _frame(h, w, seed=3)
        plain = m.predict(frame, guided=False)
        res = m.predict(frame, probs_at="network")
        nh, nw = network_size(h, w, m.config.infer_hw)
        assert res.labels.shape == (h, w) == res.frame_hw and res.network_hw == (nh, nw)
        assert res.probs.shape == (14, nh, nw) and res.probs.dtype == np.float32
        # the labels of the default path (identical but for float ties)
        assert (res.labels == plain.labels).mean() >= 0.999
        # the softmax of the network's logits, before any resize; void channel zero
        rgb, depth, _ = frame_to_tensors(frame, m.config)
        with torch.no_grad():
            ref = m(rgb, depth).softmax(1)[0].numpy()
        assert np.abs(res.probs[1:] - ref).max() < 1e-5 and not res.probs[0].any()
    # frame pixel -> nearest network pixel: (v + 0.5) * h / H, floored
    from real3d.models.inference import NetworkSegmentation

    res = NetworkSegmentation(
        np.ones((240, 320), np.uint8), np.random.default_rng(0).random((14, 224, 288), np.float32)
    )
    i, j = res.network_pixels(np.array([0, 120, 239]), np.array([0, 160, 319]))
    assert i.tolist() == [0, 112, 223] and j.tolist() == [0, 144, 287]
    p = res.probs_at_pixels(np.array([120]), np.array([160]))
    assert p.shape == (1, 14) and np.array_equal(p[0], res.probs[:, 112, 144])


def test_network_probs_take_the_plain_path_only():
    m = build_model(dataclasses.replace(get_preset("rgb-tiny"), infer_hw=(64, 96))).eval()
    f = _frame(60, 80, depth=False)
    for kw in ({"flip": True}, {"scales": (1.0, 1.25)}, {"guided": True}):
        with pytest.raises(InputError, match="plain path"):
            m.predict(f, probs_at="network", **kw)
    with pytest.raises(InputError, match="probs_at"):
        m.predict(f, probs_at="full")
    # guided=None on a config that turns the filter on means bilinear here
    m.config = dataclasses.replace(m.config, guide_radius=2)
    assert np.array_equal(m.predict(f, probs_at="network").labels, m.predict(f, guided=False).labels)


def test_network_segmentation_checks_its_fields():
    from real3d.models.inference import NetworkSegmentation

    probs = np.zeros((14, 8, 8), np.float32)
    with pytest.raises(InputError, match="probs"):
        NetworkSegmentation(np.ones((10, 10), np.uint8), probs.astype(np.float64))
    with pytest.raises(InputError, match="labels"):
        NetworkSegmentation(np.ones((10, 10), np.int32), probs)
    with pytest.raises(InputError, match="a label 14"):
        NetworkSegmentation(np.full((10, 10), 14, np.uint8), probs)
    with pytest.raises(InputError, match="head"):
        NetworkSegmentation(np.ones((10, 10), np.uint8), probs, head="both")


def test_default_predict_is_the_resized_softmax_of_the_logits():
    # the default path (probabilities at the frame's size) is unchanged by probs_at
    from real3d.models.inference import frame_to_tensors

    torch.manual_seed(0)
    m = build_model(dataclasses.replace(get_preset("rgbd-tiny"), infer_hw=(64, 96))).eval()
    frame = _frame(70, 100, seed=5)
    rgb, depth, _ = frame_to_tensors(frame, m.config)
    with torch.no_grad():
        logits = m(rgb, depth)
    ref = torch.nn.functional.interpolate(logits, size=(70, 100), mode="bilinear", align_corners=False)[0].softmax(0)
    res = m.predict(frame, guided=False)
    assert np.abs(res.probs[1:] - ref.numpy()).max() < 1e-6
    assert np.array_equal(res.labels, res.probs.argmax(0)) and np.array_equal(
        res.labels, logits_to_result(logits, (70, 100)).labels
    )
