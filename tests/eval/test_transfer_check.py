import json
import math
from pathlib import Path

import numpy as np
import pytest

from real3d.core import ConfigError, FormatError, InputError, Intrinsics
from real3d.core.frame import Frame
from real3d.core.labels import NYU13, NYU13_NAMES
from real3d.core.segmentation import SegmentationResult
from real3d.eval.metrics import confusion_matrix, metrics_from_confusion
from real3d.eval.transfer import (
    NUM_BANDS,
    REAL_CAPTURES,
    REAL_STATS_FILE,
    RealFrame,
    RealStats,
    band_edges,
    band_fractions,
    contact_rows,
    evaluate_transfer,
    frame_bootstrap,
    format_share_table,
    format_transfer_table,
    js_divergence,
    layout_rates,
    load_real_frames,
    load_real_stats,
    nyu_meta_dir,
    profile_emd,
    reference_layout_rates,
    transfer_figures,
)
from real3d.io.real_samples import real_samples_dir

REPO = Path(__file__).resolve().parents[2]
WALL, FLOOR, CEILING, CHAIR = (NYU13.index(n) for n in ("wall", "floor", "ceiling", "chair"))


def _stats_wall_over_floor() -> RealStats:
    """Real rooms of this test: wall in the top half, floor in the bottom half, half each."""
    shares = np.zeros(13)
    shares[[WALL - 1, FLOOR - 1]] = 0.5
    profiles = np.full((13, NUM_BANDS), 1.0 / NUM_BANDS)
    profiles[WALL - 1] = [0.25] * 4 + [0] * 4
    profiles[FLOOR - 1] = [0] * 4 + [0.25] * 4
    present = np.zeros(13)
    present[[WALL - 1, FLOOR - 1]] = 1.0
    return RealStats(shares=shares, frames_present=present, profiles=profiles, void_share=0.0, frames=1)


def _wall_over_floor(h: int = 16, w: int = 4) -> np.ndarray:
    labels = np.full((h, w), WALL, np.uint8)
    labels[h // 2 :] = FLOOR
    return labels


# --- distances on hand-computed cases -----------------------------------------------------


def test_js_divergence_hand_computed():
    p = np.array([0.2, 0.3, 0.5])
    assert js_divergence(p, p) == 0.0
    assert js_divergence(10 * p, p) == pytest.approx(0.0, abs=1e-12)  # weights are normalised
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4): JSD = (log2(4/3) + (log2(2/3) + 1) / 2) / 2
    want = 0.5 * (math.log2(4 / 3) + 0.5 * (math.log2(2 / 3) + 1.0))
    assert js_divergence([1, 0], [0.5, 0.5]) == pytest.approx(want, abs=1e-12)
    assert want == pytest.approx(0.311278, abs=1e-6)
    assert js_divergence([0.5, 0.5], [1, 0]) == pytest.approx(want, abs=1e-12)  # symmetric
    assert js_divergence([1, 0, 0], [0, 0.5, 0.5]) == pytest.approx(1.0)  # disjoint support


def test_profile_emd_hand_computed():
    top, bottom = np.eye(NUM_BANDS)[0], np.eye(NUM_BANDS)[-1]
    assert profile_emd(top, top) == 0.0
    assert profile_emd(top, bottom) == pytest.approx(7 / 8)  # all mass moved 7 bands
    assert profile_emd(np.eye(8)[2], np.eye(8)[3]) == pytest.approx(1 / 8)
    # half the mass moved two bands down: 0.5 * 2 / 8
    assert profile_emd([0.5, 0.5, 0, 0, 0, 0, 0, 0], [0.5, 0, 0, 0.5, 0, 0, 0, 0]) == pytest.approx(0.125)
    # the cheapest plan, not the pairing of bands: 1.5 bands of mass-weighted moves
    assert profile_emd([0.5, 0.5, 0, 0, 0, 0, 0, 0], [0, 0.5, 0, 0.5, 0, 0, 0, 0]) == pytest.approx(1.5 / 8)
    # uniform against the top half uniform: |CDF differences| 1/8, 2/8, 3/8, 4/8, 3/8, 2/8, 1/8
    assert profile_emd(np.ones(8), [1, 1, 1, 1, 0, 0, 0, 0]) == pytest.approx(2.0 / 8)


def test_distances_refuse_bad_input():
    with pytest.raises(InputError, match="same"):
        js_divergence([0.5, 0.5], [1 / 3, 1 / 3, 1 / 3])
    with pytest.raises(InputError, match=">= 0"):
        js_divergence([-0.1, 1.1], [0.5, 0.5])
    with pytest.raises(InputError, match="positive sum"):
        profile_emd(np.zeros(8), np.ones(8))
    with pytest.raises(InputError, match="1-D"):
        profile_emd(np.ones((2, 4)), np.ones((2, 4)))
    with pytest.raises(InputError, match="bands"):
        profile_emd(np.ones(8), np.ones(4))


# --- bands and layout rates on constructed label maps -------------------------------------


def test_band_edges_split_halves_and_quarters():
    assert band_edges(480).tolist() == list(range(0, 481, 60))
    e = band_edges(10)
    assert e.tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 10]
    assert e[4] == 10 // 2 and e[2] == 10 // 4


def test_band_fractions_of_a_constructed_map():
    labels = _wall_over_floor(16, 4)
    labels[0, :2] = 0  # two void pixels in the top band
    f = band_fractions(labels)
    assert f.shape == (14, NUM_BANDS) and f.sum() == pytest.approx(1.0)
    assert f[0, 0] == pytest.approx(2 / 64)
    assert f[WALL].tolist() == pytest.approx([6 / 64] + [8 / 64] * 3 + [0] * 4)
    assert f[FLOOR].tolist() == pytest.approx([0] * 4 + [8 / 64] * 4)


def test_layout_rates_on_constructed_maps():
    labels = _wall_over_floor(16, 4)
    assert layout_rates(labels) == {"ceiling_low": 0.0, "floor_high": 0.0}
    labels[12:, :2] = CEILING  # 8 of the bottom half's 32 pixels
    labels[0, :] = FLOOR  # 4 of the top quarter's 16 pixels
    labels[4:8] = FLOOR  # below the top quarter: not counted
    r = layout_rates(labels)
    assert r["ceiling_low"] == pytest.approx(8 / 32)
    assert r["floor_high"] == pytest.approx(4 / 16)


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.zeros((16, 4, 1), np.uint8), r"\(H, W\)"),
        (np.zeros((4, 4), np.uint8), "H >= 8"),
        (np.zeros((16, 4), np.float32), "integer"),
        (np.full((16, 4), 14, np.uint8), r"\[0, 13\]"),
        (np.full((16, 4), -1, np.int32), r"\[0, 13\]"),
    ],
)
def test_label_maps_of_the_wrong_shape_or_ids_are_refused(labels, match):
    for fn in (band_fractions, layout_rates):
        with pytest.raises(InputError, match=match):
            fn(labels)


def test_transfer_figures_against_constructed_statistics():
    stats = _stats_wall_over_floor()
    same = transfer_figures([band_fractions(_wall_over_floor())], stats)
    assert same["share_jsd"] == pytest.approx(0.0, abs=1e-12)
    assert same["profile_emd"] == pytest.approx(0.0, abs=1e-12)
    assert same["missing_frequent"] == [] and same["missing_fraction"] == 0.0
    assert same["frequent"] == ["floor", "wall"]

    all_wall = np.full((16, 4), WALL, np.uint8)
    fig = transfer_figures([band_fractions(all_wall)], stats)
    assert fig["share_jsd"] == pytest.approx(js_divergence([1, 0], [0.5, 0.5]))
    assert fig["profile_emd"] == pytest.approx(2.0 / 8)  # uniform wall against the top half
    assert fig["missing_frequent"] == ["floor"] and fig["missing_fraction"] == 0.5
    assert fig["profiles"][FLOOR - 1].sum() == 0.0  # never predicted: a zero row

    # every frame weighs the same, whatever its size: 3/4 wall and 1/4 floor over the two
    big_wall = np.full((64, 32), WALL, np.uint8)
    two = transfer_figures([band_fractions(big_wall), band_fractions(_wall_over_floor(16, 4))], stats)
    assert two["shares"][WALL - 1] == pytest.approx(0.75) and two["shares"][FLOOR - 1] == pytest.approx(0.25)

    void = transfer_figures([band_fractions(np.zeros((16, 4), np.uint8))], stats)
    assert void["void_share"] == 1.0 and void["share_jsd"] == 1.0 and math.isnan(void["profile_emd"])
    with pytest.raises(InputError, match="none"):
        transfer_figures([], stats)
    with pytest.raises(InputError, match=r"\(14, 8\)"):
        transfer_figures([np.zeros((13, 8))], stats)


def test_frame_bootstrap_spread():
    stats = _stats_wall_over_floor()
    same = [band_fractions(_wall_over_floor())] * 5
    assert frame_bootstrap(same, stats, n_boot=50) == {"share_jsd_std": 0.0, "profile_emd_std": 0.0}
    mixed = same + [band_fractions(np.full((16, 4), WALL, np.uint8))] * 5
    a, b = frame_bootstrap(mixed, stats, n_boot=200), frame_bootstrap(mixed, stats, n_boot=200)
    assert a == b  # seeded
    assert a["share_jsd_std"] > 0.0 and a["profile_emd_std"] > 0.0
    assert frame_bootstrap(mixed, stats, n_boot=200, seed=1) != a
    with pytest.raises(InputError, match="n_boot"):
        frame_bootstrap(mixed, stats, n_boot=0)
    with pytest.raises(InputError, match="none"):
        frame_bootstrap([], stats)
    with pytest.raises(InputError, match=r"\(14, 8\)"):
        frame_bootstrap([np.zeros((14, 4))], stats)


def test_reference_layout_rates_from_constructed_statistics():
    stats = _stats_wall_over_floor()
    assert reference_layout_rates(stats) == {"ceiling_low": 0.0, "floor_high": 0.0}
    # floor all in the top band: the top quarter (2 bands) is floor's whole share / 0.25
    profiles = stats.profiles.copy()
    profiles[FLOOR - 1] = np.eye(NUM_BANDS)[0]
    flipped = RealStats(stats.shares, stats.frames_present, profiles, void_share=0.2, frames=1)
    assert reference_layout_rates(flipped)["floor_high"] == pytest.approx(0.5 * 0.8 / 0.25)


# --- the statistics file ------------------------------------------------------------------


def _write_stats(path: Path, drop: str | None = None) -> Path:
    classes = {
        name: {
            "pixel_share_of_labelled": 1.0 / 13,
            "frames_present": 0.5,
            "vertical_profile_top_to_bottom": [0.125] * NUM_BANDS,
        }
        for name in NYU13_NAMES[1:]
        if name != drop
    }
    path.write_text(json.dumps({"frames": 3, "classes": classes, "void_share_of_all_pixels": 0.1}))
    return path


def test_load_real_stats_reads_and_refuses(tmp_path):
    s = load_real_stats(_write_stats(tmp_path / "ok.json"))
    assert s.shares.sum() == pytest.approx(1.0) and s.profiles.shape == (13, NUM_BANDS) and s.frames == 3
    with pytest.raises(FormatError, match="not found"):
        load_real_stats(tmp_path / "absent.json")
    with pytest.raises(FormatError, match="window"):
        load_real_stats(_write_stats(tmp_path / "short.json", drop="window"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FormatError, match="expected 'classes'"):
        load_real_stats(tmp_path / "bad.json")


def test_the_shared_nyu_statistics():
    path = nyu_meta_dir(REPO) / REAL_STATS_FILE
    if not path.is_file():
        pytest.skip("shared NYUv2 label statistics not present")
    s = load_real_stats(path)
    assert s.frames == 654
    assert np.allclose(s.profiles.sum(axis=1), 1.0)
    frequent = {NYU13_NAMES[c] for c in s.frequent()}
    assert {"wall", "floor", "table", "chair", "window"} <= frequent
    assert not {"ceiling", "tv", "bed"} & frequent
    ref = reference_layout_rates(s)
    assert ref["ceiling_low"] == 0.0 and ref["floor_high"] == 0.0


# --- running a model ----------------------------------------------------------------------


class _Stub:
    """A segmenter that labels the top half wall and the bottom half floor."""

    name = "stub"
    label_set = NYU13

    def __init__(self, uses_depth: bool):
        self.uses_depth = uses_depth
        self.seen_depth = []

    def predict(self, frame):
        self.seen_depth.append(frame.depth_m is not None)
        h, w = frame.size_hw
        probs = np.zeros((14, h, w), np.float32)
        probs[WALL, : h // 2] = 1
        probs[FLOOR, h // 2 :] = 1
        return SegmentationResult(labels=_wall_over_floor(h, w), probs=probs)


def _frame(h: int = 16, w: int = 12, depth: bool = True, labels=None) -> Frame:
    rgb = np.full((h, w, 3), 100, np.uint8)
    return Frame(
        rgb=rgb,
        depth_m=np.full((h, w), 2.0, np.float32) if depth else None,
        intrinsics=Intrinsics.from_fov(w, h, 1.0),
        labels=labels,
    )


def test_evaluate_transfer_with_a_stub_model():
    stats = _stats_wall_over_floor()
    gt = _wall_over_floor(16, 12)
    gt[:2] = CHAIR  # 2 of 16 rows differ from the prediction
    frames = [
        RealFrame("a/0", _frame()),
        RealFrame("b/0", _frame(32, 24), depth="relative"),
        RealFrame("c/0", _frame(labels=gt)),
    ]
    rgb_model, rgbd_model = _Stub(False), _Stub(True)
    rep = evaluate_transfer(rgb_model, frames, stats)
    assert rgb_model.seen_depth == [False] * 3  # an RGB model gets colour only
    assert [f.depth_input for f in rep.frames] == ["none"] * 3
    assert rep.model == "stub" and rep.share_jsd == pytest.approx(0.0, abs=1e-12) and rep.profile_emd == 0.0
    assert rep.ceiling_low == 0.0 and rep.floor_high == 0.0 and rep.missing_frequent == ()
    assert rep.labelled_frames == 1 and rep.frames[0].miou is None
    want = metrics_from_confusion(confusion_matrix(_wall_over_floor(16, 12), gt)).to_dict()
    assert rep.miou == want["miou"] and rep.pixel_acc == pytest.approx(100 * 14 / 16)
    assert [p.shape for p in rep.predictions] == [(16, 12), (32, 24), (16, 12)]
    # fully confident on every pixel; right on 14 of 16 rows of the labelled frame: ECE = 2/16
    assert rep.confidence == pytest.approx(1.0) and rep.ece == pytest.approx(2 / 16)
    assert rep.to_dict()["ece"] == pytest.approx(2 / 16, abs=1e-4)

    rep_d = evaluate_transfer(rgbd_model, frames, stats, model_name="with depth")
    assert rgbd_model.seen_depth == [True] * 3
    assert [f.depth_input for f in rep_d.frames] == ["metric", "relative", "metric"]
    d = rep_d.to_dict()
    assert d["model"] == "with depth" and d["frames_used"] == 3 and len(d["frames"]) == 3
    assert d["shares"]["wall"] == 0.5 and d["profiles"]["floor"][-1] == 0.25
    json.dumps(d)  # JSON-ready

    table = format_transfer_table([rep, rep_d], stats)
    assert table.count("\n") == 4 and "| with depth | 3 | 0.000 ± 0.000 | 0.000 ± 0.000 | 0 of 2 |" in table
    assert "| wall | 50.0 | 50.0 | 50.0 |" in format_share_table([rep, rep_d], stats)
    rows = contact_rows(rep, frames)
    assert rows[2]["gt"] is gt and rows[0]["gt"] is None and "mIoU" in rows[2]["status"]
    with pytest.raises(InputError, match="one per frame"):
        contact_rows(rep, frames[:2])


def test_evaluate_transfer_refuses_bad_input():
    stats = _stats_wall_over_floor()
    frames = [RealFrame("a/0", _frame())]
    with pytest.raises(ConfigError, match="unknown model"):
        evaluate_transfer("no-such-model", frames, stats)
    with pytest.raises(InputError, match="got none"):
        evaluate_transfer(_Stub(False), [], stats)
    with pytest.raises(InputError, match="RealFrame"):
        evaluate_transfer(_Stub(False), [_frame()], stats)
    with pytest.raises(InputError, match="needs depth"):
        evaluate_transfer(_Stub(True), [RealFrame("a/0", _frame(depth=False))], stats)
    other = _Stub(False)
    other.label_set = type("LS", (), {"name": "warehouse"})()
    with pytest.raises(ConfigError, match="NYUv2-13"):
        evaluate_transfer(other, frames, stats)
    with pytest.raises(InputError, match="depth"):
        RealFrame("a/0", _frame(), depth="guessed")


def test_load_real_frames_skips_missing_folders_and_refuses_unknown_names(tmp_path):
    frames, notes = load_real_frames(tmp_path)
    assert frames == [] and len(notes) == len(REAL_CAPTURES)
    assert all("skipped" in n for n in notes)
    with pytest.raises(ConfigError, match="iclnuim_synthetic_seq"):
        load_real_frames(tmp_path, ("iclnuim_synthetic_seq",))
    (tmp_path / "nyuv2_train_sample").mkdir()  # there, but without its files
    with pytest.raises(FormatError, match="labelled NYUv2 frame"):
        load_real_frames(tmp_path, ("nyuv2_train_sample",))


def test_every_real_capture_is_read():
    real = real_samples_dir(REPO)
    if not real.is_dir():
        pytest.skip("shared real captures not present")
    frames, notes = load_real_frames(real)
    names = [f.name for f in frames]
    assert len(set(names)) == len(names)
    assert not any(n.startswith("iclnuim") for n in names)
    for rf in frames:
        assert rf.frame.depth_m is not None and rf.frame.depth_m.shape == rf.frame.rgb.shape[:2]
        assert (rf.frame.depth_m > 0).mean() > 0.5, rf.name
    labelled = [rf for rf in frames if rf.frame.labels is not None]
    assert [rf.depth for rf in labelled] == ["relative"]  # the NYUv2 sample's depth has no scale
    if not notes:
        assert len(frames) == 14


@pytest.mark.slow
def test_end_to_end_on_the_labelled_real_frame():
    real, stats_path = real_samples_dir(REPO), nyu_meta_dir(REPO) / REAL_STATS_FILE
    if not (real / "nyuv2_train_sample").is_dir() or not stats_path.is_file():
        pytest.skip("shared real data not present")
    frames, _ = load_real_frames(real, ("nyuv2_train_sample",))
    stats = load_real_stats(stats_path)
    rep = evaluate_transfer("rgb-default", frames, stats)
    again = evaluate_transfer("rgb-default", frames, stats)
    assert rep.to_dict() == again.to_dict()  # deterministic
    pred = rep.predictions[0]
    want = metrics_from_confusion(confusion_matrix(pred, frames[0].frame.labels)).to_dict()
    assert rep.miou == want["miou"] and rep.pixel_acc == want["pixel_acc"]
    assert rep.shares.sum() == pytest.approx(1.0)
    assert 0.0 < rep.share_jsd < 1.0 and 0.0 < rep.profile_emd < 7 / 8
    assert rep.ceiling_low == pytest.approx(layout_rates(pred)["ceiling_low"])
