"""How a 2D segmentation model transfers to real rooms, measured without labels.

A network trained on synthetic rooms is run on real captures that carry no labels. What it
predicts is compared with what real rooms look like: the statistics of the 654 official
NYUv2 test label maps (``nyuv2_meta/nyu13_test_label_stats.json`` in the shared data: per
NYUv2-13 class its share of the labelled pixels, the share of frames it appears in and its
vertical profile, the distribution of its pixels over 8 equal horizontal bands from the top
of the image to the bottom). The figures, all deterministic for given weights and frames:

- ``share_jsd``: Jensen-Shannon divergence (base 2, in [0, 1]; 0 = the same) between the
  predicted class shares (void left out) and the real ones.
- ``profile_emd``: per class, the earth mover's distance between the predicted and the real
  vertical profile, in image heights (one band = 1/8; in [0, 7/8]), averaged over the
  predicted classes weighted by their predicted share: how far, on average, a predicted
  pixel's class sits from where that class sits in real rooms.
- ``missing_frequent``: the classes that appear in at least ``FREQUENT_MIN_FRAMES`` of the
  real test frames (the frequent set) and that the model predicts on less than
  ``PREDICTED_MIN_SHARE`` of the pixels over all frames; ``missing_fraction`` is their
  share of the frequent set.
- ``ceiling_low`` and ``floor_high``: impossible layouts, as pixel shares: the share of the
  bottom half of an image predicted ceiling, and of its top quarter predicted floor (both
  0 in the real statistics for a level camera).
- ``miou`` and ``pixel_acc``: on the frames that do carry NYUv2-13 labels (the one
  labelled NYUv2 frame), in percent, as ``real3d.eval.metrics`` scores them.
- ``confidence`` and ``ece``: the mean top-class probability over all frames (no labels
  needed: a model as sure of itself on real rooms as on its training data is a warning)
  and the expected calibration error on the labelled frames (``real3d.eval.calibration``).

Every frame weighs the same: the shares and profiles over a set of frames are means of each
frame's pixel fractions, so a 1440x1080 capture counts as much as a 640x480 one (the NYUv2
statistics, over frames of one size, are the same either way).

The real frames are read from the shared data with ``real3d.io``'s readers
(:func:`load_real_frames`); ``real3d.models.create_model`` loads a model by name or path.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from real3d.core.errors import ConfigError, FormatError, InputError, describe_array
from real3d.core.frame import Frame
from real3d.core.labels import NYU13, NYU13_NAMES

#: horizontal bands of the vertical profiles, top to bottom
NUM_BANDS = 8
#: a class is in the frequent set when it appears in at least this share of the real frames
FREQUENT_MIN_FRAMES = 0.4
#: a class predicted on less than this share of the pixels (over all frames) counts as never predicted
PREDICTED_MIN_SHARE = 0.001
#: the statistics file inside ``nyuv2_meta``
REAL_STATS_FILE = "nyu13_test_label_stats.json"
#: capture folders of the shared real data that are synthetic, not real rooms
SYNTHETIC_SAMPLES = ("iclnuim_synthetic_seq",)
#: depth inputs a real frame can carry: metric sensor depth, or depth known only up to scale
DEPTH_KINDS = ("metric", "relative")

_NUM_CLASSES = len(NYU13_NAMES) - 1


def nyu_meta_dir(repo_root: str | Path) -> Path:
    """Where the shared data keep the NYUv2 label metadata for a checkout at ``repo_root``."""
    return Path(repo_root).resolve().parent / "shared" / "data" / "nyuv2_meta"


@dataclasses.dataclass(frozen=True)
class RealStats:
    """Label statistics of real NYUv2-13 frames.

    Attributes:
        shares: (13,) float64, each class's share of the labelled pixels (classes 1..13 in
            NYUv2-13 order; sums to 1).
        frames_present: (13,) float64 in [0, 1], the share of frames each class appears in.
        profiles: (13, NUM_BANDS) float64, each class's pixels over the horizontal bands,
            top to bottom (each row sums to 1).
        void_share: share of all pixels that are void, in [0, 1].
        frames: how many frames the statistics cover.
    """

    shares: np.ndarray
    frames_present: np.ndarray
    profiles: np.ndarray
    void_share: float
    frames: int

    def frequent(self, min_frames_present: float = FREQUENT_MIN_FRAMES) -> tuple[int, ...]:
        """Class ids (1..13) that appear in at least ``min_frames_present`` of the frames."""
        return tuple(int(i) + 1 for i in np.flatnonzero(self.frames_present >= min_frames_present))


def load_real_stats(path: str | Path) -> RealStats:
    """Read ``nyu13_test_label_stats.json`` (see the module docstring).

    Raises:
        FormatError: the file is missing, not JSON, or lacks a class, a field or the
            NUM_BANDS-band profile; shares and profiles are renormalised to sum to 1
            (the file rounds them).
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"load_real_stats: {path} not found; expected the NYUv2-13 label statistics")
    try:
        d = json.loads(path.read_text())
        classes = d["classes"]
        rows = [classes[name] for name in NYU13_NAMES[1:]]
        shares = np.array([r["pixel_share_of_labelled"] for r in rows], dtype=np.float64)
        present = np.array([r["frames_present"] for r in rows], dtype=np.float64)
        profiles = np.array([r["vertical_profile_top_to_bottom"] for r in rows], dtype=np.float64)
        void_share, frames = float(d["void_share_of_all_pixels"]), int(d["frames"])
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(
            f"load_real_stats: {path}: expected 'classes' with the 13 NYUv2-13 classes, each with "
            f"pixel_share_of_labelled, frames_present and vertical_profile_top_to_bottom, plus "
            f"void_share_of_all_pixels and frames ({type(e).__name__}: {e})"
        ) from None
    if profiles.shape != (_NUM_CLASSES, NUM_BANDS):
        raise FormatError(f"load_real_stats: {path}: expected {NUM_BANDS}-band profiles, got {profiles.shape}")
    if (shares < 0).any() or shares.sum() <= 0 or (profiles < 0).any() or (profiles.sum(1) <= 0).any():
        raise FormatError(f"load_real_stats: {path}: shares and profiles must be >= 0 and not all 0")
    return RealStats(
        shares=shares / shares.sum(),
        frames_present=present,
        profiles=profiles / profiles.sum(axis=1, keepdims=True),
        void_share=void_share,
        frames=frames,
    )


# --- distances -------------------------------------------------------------------------


def _distribution(x, name: str, who: str) -> np.ndarray:
    p = np.asarray(x, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise InputError(f"{who}: {name}: expected a 1-D distribution, got {describe_array(p)}")
    if not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise InputError(f"{who}: {name}: expected finite values >= 0 with a positive sum")
    return p / p.sum()


def js_divergence(p, q) -> float:
    """Jensen-Shannon divergence of two discrete distributions, base 2, in [0, 1].

    Args:
        p, q: (K,) non-negative weights (normalised here), e.g. class shares.

    Returns:
        0 for equal distributions, 1 for distributions with disjoint support.

    Raises:
        InputError: not 1-D, different lengths, negative, non-finite or all zero.
    """
    p, q = _distribution(p, "p", "js_divergence"), _distribution(q, "q", "js_divergence")
    if p.shape != q.shape:
        raise InputError(f"js_divergence: p has {p.size} entries, q {q.size}; expected the same")
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return min(1.0, max(0.0, 0.5 * kl(p) + 0.5 * kl(q)))


def profile_emd(p, q) -> float:
    """Earth mover's distance between two vertical profiles over the same equal bands, in
    image heights (one band = 1 / number of bands): the sum of the absolute differences of
    the two cumulative distributions, divided by the number of bands.

    Args:
        p, q: (B,) non-negative weights per band, top to bottom (normalised here).

    Raises:
        InputError: as :func:`js_divergence`.
    """
    p, q = _distribution(p, "p", "profile_emd"), _distribution(q, "q", "profile_emd")
    if p.shape != q.shape:
        raise InputError(f"profile_emd: p has {p.size} bands, q {q.size}; expected the same")
    return float(np.abs(np.cumsum(p - q)[:-1]).sum() / p.size)


def band_edges(height: int, bands: int = NUM_BANDS) -> np.ndarray:
    """(bands + 1,) int64 row edges of ``bands`` equal horizontal bands of an image of
    ``height`` rows: band b holds rows ``edges[b]`` to ``edges[b + 1] - 1``. With 8 bands the
    bottom half starts at ``edges[4]`` = height // 2 and the top quarter ends at
    ``edges[2]`` = height // 4."""
    return (np.arange(bands + 1, dtype=np.int64) * int(height)) // bands


def _label_map(labels, who: str) -> np.ndarray:
    a = np.asarray(labels)
    if a.ndim != 2 or a.shape[0] < NUM_BANDS or a.shape[1] < 1:
        raise InputError(f"{who}: expected an (H, W) label map with H >= {NUM_BANDS} rows, got {describe_array(a)}")
    if not np.issubdtype(a.dtype, np.integer):
        raise InputError(f"{who}: expected integer NYUv2-13 ids, got {describe_array(a)}")
    if a.size and (a.min() < 0 or a.max() > _NUM_CLASSES):
        raise InputError(f"{who}: expected NYUv2-13 ids in [0, {_NUM_CLASSES}], got [{a.min()}, {a.max()}]")
    return a


def band_fractions(labels) -> np.ndarray:
    """(14, NUM_BANDS) float64: the share of all the map's pixels that are of class c (0 =
    void, 1..13 NYUv2-13) and lie in band b (top to bottom); the whole sums to 1.

    Args:
        labels: (H, W) integer NYUv2-13 ids, H >= NUM_BANDS.

    Raises:
        InputError: not a 2-D integer map, too few rows, or ids outside 0..13.
    """
    a = _label_map(labels, "band_fractions")
    h, w = a.shape
    band_of_row = np.repeat(np.arange(NUM_BANDS), np.diff(band_edges(h)))
    idx = a.astype(np.int64) * NUM_BANDS + band_of_row[:, None]
    counts = np.bincount(idx.ravel(), minlength=(_NUM_CLASSES + 1) * NUM_BANDS)
    return counts.reshape(_NUM_CLASSES + 1, NUM_BANDS) / float(h * w)


def layout_rates(labels) -> dict[str, float]:
    """Impossible-layout shares of one NYUv2-13 label map, in [0, 1]:
    ``ceiling_low``, the share of the bottom half's pixels labelled ceiling, and
    ``floor_high``, the share of the top quarter's pixels labelled floor.

    Raises:
        InputError: as :func:`band_fractions`.
    """
    a = _label_map(labels, "layout_rates")
    h = a.shape[0]
    ceiling, floor = NYU13.index("ceiling"), NYU13.index("floor")
    return {
        "ceiling_low": float(np.mean(a[h // 2 :] == ceiling)),
        "floor_high": float(np.mean(a[: h // 4] == floor)),
    }


def transfer_figures(fractions, stats: RealStats, min_share: float = PREDICTED_MIN_SHARE) -> dict:
    """The label-free figures of a set of predicted label maps against real statistics.

    Args:
        fractions: one (14, NUM_BANDS) :func:`band_fractions` array per frame (each frame
            weighs the same).
        stats: the real statistics (:func:`load_real_stats`).
        min_share: below this predicted share a class counts as never predicted.

    Returns:
        dict: ``shares`` (13,) predicted class shares (void left out; zeros when only void
        was predicted), ``profiles`` (13, NUM_BANDS) (rows of never-predicted classes are
        zero), ``share_jsd``, ``profile_emd`` (NaN when only void was predicted),
        ``frequent`` and ``missing_frequent`` (class names), ``missing_fraction``, and ``void_share`` (the
        predicted share of void pixels).

    Raises:
        InputError: no frames, or an array that is not (14, NUM_BANDS).
    """
    fr = [np.asarray(f, dtype=np.float64) for f in fractions]
    if not fr:
        raise InputError("transfer_figures: expected at least one frame's band fractions, got none")
    for f in fr:
        if f.shape != (_NUM_CLASSES + 1, NUM_BANDS):
            raise InputError(
                f"transfer_figures: expected ({_NUM_CLASSES + 1}, {NUM_BANDS}) band fractions, got {describe_array(f)}"
            )
    m = np.mean(fr, axis=0)
    per_class = m[1:].sum(axis=1)
    labelled = per_class.sum()
    shares = per_class / labelled if labelled > 0 else np.zeros(_NUM_CLASSES)
    profiles = np.divide(m[1:], per_class[:, None], out=np.zeros_like(m[1:]), where=per_class[:, None] > 0)
    predicted = np.flatnonzero(shares > 0)
    if labelled > 0:
        jsd = js_divergence(shares, stats.shares)
        emd = [profile_emd(profiles[c], stats.profiles[c]) for c in predicted]
        emd_mean = float(np.dot(shares[predicted], emd) / shares[predicted].sum())
    else:
        jsd, emd_mean = 1.0, float("nan")
    frequent = stats.frequent()
    missing = [NYU13_NAMES[c] for c in frequent if shares[c - 1] < min_share]
    return {
        "shares": shares,
        "profiles": profiles,
        "share_jsd": jsd,
        "profile_emd": emd_mean,
        "frequent": [NYU13_NAMES[c] for c in frequent],
        "missing_frequent": missing,
        "missing_fraction": len(missing) / len(frequent) if frequent else 0.0,
        "void_share": float(m[0].sum()),
    }


def frame_bootstrap(fractions, stats: RealStats, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """How much ``share_jsd`` and ``profile_emd`` of :func:`transfer_figures` move when the
    frames are drawn again: their standard deviations over ``n_boot`` resamples of the
    frames with replacement (seeded, so deterministic). With few frames this is the figure
    to hold a difference between two models against.

    Returns:
        ``{"share_jsd_std": ..., "profile_emd_std": ...}``; 0 for a single frame.

    Raises:
        InputError: as :func:`transfer_figures`, or ``n_boot`` < 1.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise InputError(f"frame_bootstrap: n_boot: expected an integer >= 1, got {n_boot!r}")
    transfer_figures(fractions, stats)  # checks the arrays
    fr = np.stack([np.asarray(f, dtype=np.float64) for f in fractions])
    rng = np.random.default_rng(seed)
    draws = [transfer_figures(fr[rng.integers(0, len(fr), len(fr))], stats) for _ in range(n_boot)]
    emd = np.array([d["profile_emd"] for d in draws])
    emd = emd[np.isfinite(emd)]  # a draw of frames predicted all void has no profile
    return {
        "share_jsd_std": float(np.std([d["share_jsd"] for d in draws])),
        "profile_emd_std": float(np.std(emd)) if emd.size else float("nan"),
    }


def reference_layout_rates(stats: RealStats) -> dict[str, float]:
    """``ceiling_low`` and ``floor_high`` (as :func:`layout_rates`) implied by real
    statistics: the class's share of all pixels times its share of the region's bands,
    over the region's share of the image."""
    labelled = 1.0 - stats.void_share
    ceiling, floor = NYU13.index("ceiling") - 1, NYU13.index("floor") - 1
    low = stats.shares[ceiling] * labelled * stats.profiles[ceiling, NUM_BANDS // 2 :].sum() / 0.5
    high = stats.shares[floor] * labelled * stats.profiles[floor, : NUM_BANDS // 4].sum() / 0.25
    return {"ceiling_low": float(low), "floor_high": float(high)}


# --- real frames ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RealFrame:
    """One real capture to run a model on.

    Attributes:
        name: ``<sample folder>/<frame>``, e.g. ``joinmap_kinect_seq/3``.
        frame: the Frame as the readers give it (labels only where the capture has them).
        depth: ``"metric"`` (sensor depth in metres, registered to the colour image) or
            ``"relative"`` (known only up to scale; see ``real3d.eval.nyu_sample``).
    """

    name: str
    frame: Frame
    depth: str = "metric"

    def __post_init__(self) -> None:
        if self.depth not in DEPTH_KINDS:
            raise InputError(
                f"RealFrame {self.name}: depth: expected one of {', '.join(DEPTH_KINDS)}, got {self.depth!r}"
            )
        if not isinstance(self.frame, Frame):
            raise InputError(f"RealFrame {self.name}: expected a Frame, got {type(self.frame).__name__}")


def _nominal_camera(rgb: np.ndarray, hfov_deg: float):
    from real3d.core.camera import Intrinsics

    h, w = rgb.shape[:2]
    return Intrinsics.from_fov(w, h, math.radians(hfov_deg))


def _single_frames(folder: Path) -> list[RealFrame]:
    """``single_frames``: one TUM, one SUN RGB-D and one raw NYU frame (the depth-only
    frame has no colour and is left out)."""
    from real3d.core.frame import sanitize_depth
    from real3d.io import decode_rgb, read_depth_file, register_depth_to_color, tum_intrinsics

    out = []
    tum, sun, nyu = folder / "TUM_color.png", folder / "SUN_color.jpg", folder / "NYU_color.ppm"
    if tum.is_file():
        depth, _ = read_depth_file(folder / "TUM_depth.png", "tum")
        out.append(("TUM", decode_rgb(tum), depth, tum_intrinsics("default")))
    if sun.is_file():
        rgb = decode_rgb(sun)
        depth, _ = read_depth_file(folder / "SUN_depth.png", "sun")
        # an unknown sensor: the networks do not use the camera, a nominal one keeps Frame whole
        out.append(("SUN", rgb, depth, _nominal_camera(rgb, 60.0)))
    if nyu.is_file():
        from real3d.io.nyu import NYU_COLOR_INTRINSICS

        depth, _ = read_depth_file(folder / "NYU_depth.pgm", "nyu_disparity")
        depth, _ = sanitize_depth(depth)
        out.append(("NYU", decode_rgb(nyu), register_depth_to_color(depth), NYU_COLOR_INTRINSICS))
    return [
        RealFrame(f"{folder.name}/{name}", Frame(rgb=rgb, depth_m=sanitize_depth(d)[0], intrinsics=K))
        for name, rgb, d, K in out
    ]


def _kinect_v2(folder: Path) -> list[RealFrame]:
    """``kinect_v2_emsanet``: one Kinect v2 frame, depth in millimetres registered to the
    colour image; no intrinsics are given (a nominal camera: the networks do not use it)."""
    from real3d.core.frame import sanitize_depth
    from real3d.io import decode_rgb, read_depth_file

    rgb = decode_rgb(folder / "sample_rgb.png")
    depth, _ = read_depth_file(folder / "sample_depth.png", "mm")
    # Kinect v2's colour camera sees about 84 degrees across
    frame = Frame(rgb=rgb, depth_m=sanitize_depth(depth)[0], intrinsics=_nominal_camera(rgb, 84.0))
    return [RealFrame(f"{folder.name}/sample", frame)]


def _sequence_frames(folder: Path) -> list[RealFrame]:
    from real3d.io import open_sequence
    from real3d.io.real_samples import sample_options

    with open_sequence(folder, **sample_options(folder.name)) as seq:
        frames = list(seq)
    names = [str(f.meta.get("scene") or Path(f.meta.get("color_path") or str(f.index)).stem) for f in frames]
    if len(set(names)) < len(names):
        names = [str(f.index) for f in frames]
    return [RealFrame(f"{folder.name}/{n}", f) for n, f in zip(names, frames)]


def _nyu_sample(folder: Path) -> list[RealFrame]:
    from real3d.eval.nyu_sample import load_nyu_sample

    try:
        frame = load_nyu_sample(folder)
    except FileNotFoundError as e:
        raise FormatError(f"load_real_frames: {folder} lacks a file of the labelled NYUv2 frame ({e})") from None
    return [RealFrame(f"{folder.name}/0", frame, depth="relative")]


#: the real capture folders of the shared data, in the order they are read, and their readers
REAL_CAPTURES = {
    "joinmap_kinect_seq": _sequence_frames,
    "tum_pair": _sequence_frames,
    "single_frames": _single_frames,
    "sunrgbd": _sequence_frames,
    "kinect_v2_emsanet": _kinect_v2,
    "nyuv2_train_sample": _nyu_sample,
}


def load_real_frames(
    real_dir: str | Path, captures: tuple[str, ...] | None = None
) -> tuple[list[RealFrame], list[str]]:
    """Every real capture of the shared data (``real3d.io.real_samples.real_samples_dir``),
    read with ``real3d.io``'s readers; the synthetic ``iclnuim_synthetic_seq`` is not one.

    Args:
        real_dir: the folder holding the capture folders.
        captures: names of ``REAL_CAPTURES`` to read (default all).

    Returns:
        (frames, notes): the frames in ``REAL_CAPTURES`` order, and one note per capture
        folder that is missing (skipped).

    Raises:
        ConfigError: a name that is not a real capture.
        FormatError: a capture folder that is there but damaged.
    """
    names = tuple(REAL_CAPTURES) if captures is None else tuple(captures)
    unknown = [n for n in names if n not in REAL_CAPTURES]
    if unknown:
        raise ConfigError(
            f"load_real_frames: unknown capture(s) {', '.join(unknown)}; valid: {', '.join(REAL_CAPTURES)}"
        )
    frames: list[RealFrame] = []
    notes: list[str] = []
    for name in names:
        folder = Path(real_dir) / name
        if not folder.is_dir():
            notes.append(f"{name}: not in {Path(real_dir)}, skipped")
            continue
        frames += REAL_CAPTURES[name](folder)
    return frames, notes


# --- running a model ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FrameTransfer:
    """The figures of one model on one real frame (shares and rates in [0, 1]).

    Attributes:
        name: the RealFrame's name.
        depth_input: what the model was given: ``"metric"``, ``"relative"`` or ``"none"``.
        shares: (13,) predicted class shares, void left out.
        share_jsd, profile_emd: against the real statistics (module docstring).
        ceiling_low, floor_high: :func:`layout_rates` of the prediction.
        miou, pixel_acc: percent, against the frame's labels; None without labels.
    """

    name: str
    depth_input: str
    shares: np.ndarray
    share_jsd: float
    profile_emd: float
    ceiling_low: float
    floor_high: float
    miou: float | None = None
    pixel_acc: float | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "depth_input": self.depth_input,
            "shares": {NYU13_NAMES[i + 1]: round(float(v), 5) for i, v in enumerate(self.shares)},
            "share_jsd": _r(self.share_jsd),
            "profile_emd": _r(self.profile_emd),
            "ceiling_low": _r(self.ceiling_low),
            "floor_high": _r(self.floor_high),
            "miou": self.miou,
            "pixel_acc": self.pixel_acc,
        }


def _r(x: float, nd: int = 5) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


@dataclasses.dataclass(frozen=True)
class TransferReport:
    """One model's figures over a set of real frames (module docstring for each figure).

    Attributes:
        model: the model's name as given.
        frames: the per-frame figures, in frame order.
        shares: (13,) predicted class shares over all frames, void left out.
        profiles: (13, NUM_BANDS) predicted vertical profiles (zero rows: never predicted).
        share_jsd, profile_emd, frequent, missing_frequent, missing_fraction:
            :func:`transfer_figures`.
        share_jsd_std, profile_emd_std: their spread when the frames are drawn again
            (:func:`frame_bootstrap`).
        ceiling_low, floor_high: the means over the frames of the per-frame rates.
        miou, pixel_acc: percent over the labelled frames pooled (one confusion); None
            when no frame has labels.
        labelled_frames: how many frames carried labels.
        confidence: mean top-class probability over every pixel of every frame (each frame
            weighted alike), a fraction; needs no labels. None for a model without probabilities.
        ece: expected calibration error (15 bins, fraction) over the labelled frames'
            labelled pixels; None without labels or probabilities.
        predictions: (H, W) uint8 predicted labels per frame (for pictures; not in to_dict).
    """

    model: str
    frames: tuple[FrameTransfer, ...]
    shares: np.ndarray
    profiles: np.ndarray
    share_jsd: float
    profile_emd: float
    share_jsd_std: float
    profile_emd_std: float
    frequent: tuple[str, ...]
    missing_frequent: tuple[str, ...]
    missing_fraction: float
    ceiling_low: float
    floor_high: float
    miou: float | None
    pixel_acc: float | None
    labelled_frames: int
    predictions: tuple[np.ndarray, ...] = dataclasses.field(default=(), repr=False)
    confidence: float | None = None
    ece: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready: every figure, shares and profiles by class name, the per-frame list."""
        return {
            "model": self.model,
            "frames_used": len(self.frames),
            "share_jsd": _r(self.share_jsd),
            "profile_emd": _r(self.profile_emd),
            "share_jsd_std": _r(self.share_jsd_std),
            "profile_emd_std": _r(self.profile_emd_std),
            "frequent": list(self.frequent),
            "missing_frequent": list(self.missing_frequent),
            "missing_fraction": _r(self.missing_fraction),
            "ceiling_low": _r(self.ceiling_low),
            "floor_high": _r(self.floor_high),
            "miou": self.miou,
            "pixel_acc": self.pixel_acc,
            "labelled_frames": self.labelled_frames,
            "confidence": None if self.confidence is None else _r(self.confidence),
            "ece": None if self.ece is None else _r(self.ece),
            "shares": {NYU13_NAMES[i + 1]: round(float(v), 5) for i, v in enumerate(self.shares)},
            "profiles": {NYU13_NAMES[i + 1]: [round(float(v), 4) for v in p] for i, p in enumerate(self.profiles)},
            "frames": [f.to_dict() for f in self.frames],
        }


def _model_input(rf: RealFrame, model, model_name: str) -> tuple[Frame, str]:
    """The frame as the model takes it: depth only for a model that reads depth."""
    if not getattr(model, "uses_depth", True):
        return dataclasses.replace(rf.frame, depth_m=None, depth_clean_m=None), "none"
    if rf.frame.depth_m is None:
        raise InputError(f"evaluate_transfer: {model_name} needs depth and the frame {rf.name} has none")
    return rf.frame, rf.depth


def evaluate_transfer(
    model,
    frames: list[RealFrame],
    stats: RealStats,
    *,
    model_name: str | None = None,
    progress: bool = False,
) -> TransferReport:
    """Predict every real frame with ``model`` and compute the transfer figures.

    Args:
        model: a model name or ``.safetensors`` path (``real3d.models.create_model``, torch),
            or a loaded segmenter (``real3d.models.contract.Segmenter``) predicting NYUv2-13.
        frames: the real frames (:func:`load_real_frames`). A model that reads depth is
            given each frame's depth (metric or relative, as the frame says); one that does
            not gets the colour image only.
        stats: the real statistics to compare with (:func:`load_real_stats`).
        model_name: the name in the report (default: ``model`` when it is a name or path,
            else the segmenter's ``name``).
        progress: show a progress bar.

    Raises:
        ConfigError: an unknown model name, or a model that does not predict NYUv2-13.
        FormatError: a weights file that is missing or corrupt.
        InputError: no frames, an entry that is not a RealFrame, or a frame without depth
            for a model that needs it.
    """
    from real3d.eval.calibration import CalibrationStats
    from real3d.eval.metrics import confusion_matrix, metrics_from_confusion

    if isinstance(model, (str, Path)):
        from real3d.models import create_model

        model_name = model_name or str(model)
        model = create_model(model)
    model_name = model_name or str(getattr(model, "name", type(model).__name__))
    label_set = getattr(model, "label_set", NYU13)
    if getattr(label_set, "name", None) != NYU13.name:
        raise ConfigError(
            f"evaluate_transfer: {model_name} predicts {getattr(label_set, 'name', label_set)} classes; "
            "the real statistics are NYUv2-13"
        )
    frames = list(frames)
    if not frames:
        raise InputError("evaluate_transfer: expected at least one real frame, got none")
    for rf in frames:
        if not isinstance(rf, RealFrame):
            raise InputError(f"evaluate_transfer: expected RealFrame entries, got {type(rf).__name__}")
    it = frames
    if progress:
        from tqdm import tqdm

        it = tqdm(frames, desc=f"transfer {model_name}", unit="frame")
    per_frame, fractions, preds, conf = [], [], [], None
    labelled = 0
    confidences: list[float] = []
    cal = CalibrationStats()
    for rf in it:
        frame, depth_input = _model_input(rf, model, model_name)
        res = model.predict(frame)
        labels = np.asarray(res.labels, dtype=np.uint8)
        probs = getattr(res, "probs", None)
        if probs is not None:
            confidences.append(float(np.asarray(probs).max(axis=0).mean()))
            if rf.frame.labels is not None and (rf.frame.labels > 0).any():
                cal.update(probs, rf.frame.labels)
        fr = band_fractions(labels)
        one = transfer_figures([fr], stats)
        rates = layout_rates(labels)
        miou = acc = None
        if rf.frame.labels is not None:
            c = confusion_matrix(labels, rf.frame.labels, _NUM_CLASSES)
            d = metrics_from_confusion(c).to_dict()
            miou, acc = d["miou"], d["pixel_acc"]
            conf = c if conf is None else conf + c
            labelled += 1
        per_frame.append(
            FrameTransfer(
                rf.name,
                depth_input,
                one["shares"],
                one["share_jsd"],
                one["profile_emd"],
                **rates,
                miou=miou,
                pixel_acc=acc,
            )
        )
        fractions.append(fr)
        preds.append(labels)
    agg = transfer_figures(fractions, stats)
    spread = frame_bootstrap(fractions, stats)
    pooled = metrics_from_confusion(conf).to_dict() if conf is not None else None
    return TransferReport(
        model=model_name,
        frames=tuple(per_frame),
        shares=agg["shares"],
        profiles=agg["profiles"],
        share_jsd=agg["share_jsd"],
        profile_emd=agg["profile_emd"],
        share_jsd_std=spread["share_jsd_std"],
        profile_emd_std=spread["profile_emd_std"],
        frequent=tuple(agg["frequent"]),
        missing_frequent=tuple(agg["missing_frequent"]),
        missing_fraction=agg["missing_fraction"],
        ceiling_low=float(np.mean([f.ceiling_low for f in per_frame])),
        floor_high=float(np.mean([f.floor_high for f in per_frame])),
        miou=None if pooled is None else pooled["miou"],
        pixel_acc=None if pooled is None else pooled["pixel_acc"],
        labelled_frames=labelled,
        predictions=tuple(preds),
        confidence=float(np.mean(confidences)) if len(confidences) == len(frames) else None,
        ece=cal.result()["ece"] if cal.pixels and len(confidences) == len(frames) else None,
    )


# --- reporting --------------------------------------------------------------------------

TABLE_HEADER = (
    "| model | frames | share JSD | profile EMD | frequent classes missing | ceiling in bottom half % "
    "| floor in top quarter % | NYUv2 frame mIoU | NYUv2 frame pixel acc | mean confidence % "
    "| NYUv2 frame ECE % |"
)


def format_transfer_table(reports: list[TransferReport], stats: RealStats | None = None) -> str:
    """A markdown table, one row per report (and a first row of the real statistics' own
    figures when ``stats`` is given): JSD and EMD to 3 decimals with their frame-bootstrap
    standard deviations, rates in percent."""
    lines = [TABLE_HEADER, "|" + "---|" * TABLE_HEADER.count(" | ") + "---|"]
    if stats is not None:
        ref = reference_layout_rates(stats)
        lines.append(
            f"| real NYUv2 test labels ({stats.frames} frames) | - | 0 | 0 | 0 of {len(stats.frequent())} "
            f"| {100 * ref['ceiling_low']:.2f} | {100 * ref['floor_high']:.2f} | - | - | - | - |"
        )
    for r in reports:
        missing = f"{len(r.missing_frequent)} of {len(r.frequent)}"
        if r.missing_frequent:
            missing += f" ({', '.join(r.missing_frequent)})"
        lab = ("-", "-") if r.miou is None else (f"{r.miou:.1f}", f"{r.pixel_acc:.1f}")
        conf = "-" if r.confidence is None else f"{100 * r.confidence:.1f}"
        ece = "-" if r.ece is None else f"{100 * r.ece:.1f}"
        lines.append(
            f"| {r.model} | {len(r.frames)} | {r.share_jsd:.3f} ± {r.share_jsd_std:.3f} "
            f"| {r.profile_emd:.3f} ± {r.profile_emd_std:.3f} | {missing} "
            f"| {100 * r.ceiling_low:.2f} | {100 * r.floor_high:.2f} | {lab[0]} | {lab[1]} | {conf} | {ece} |"
        )
    return "\n".join(lines)


def contact_rows(report: TransferReport, frames: list[RealFrame]) -> list[dict]:
    """Rows for ``real3d.viz.plots.segmentation_samples``: each frame's colour image, the
    model's labels and the frame's own labels where it has them, titled with its name and
    figures."""
    if len(frames) != len(report.predictions):
        raise InputError(
            f"contact_rows: {len(report.predictions)} predictions for {len(frames)} frames; expected one per frame"
        )
    rows = []
    for rf, ft, pred in zip(frames, report.frames, report.predictions):
        status = (
            f"depth {ft.depth_input}, JSD {ft.share_jsd:.2f}, ceiling low {100 * ft.ceiling_low:.1f} %,"
            f" floor high {100 * ft.floor_high:.1f} %"
        )
        if ft.miou is not None:
            status += f", mIoU {ft.miou:.1f}"
        rows.append({"rgb": rf.frame.rgb, "pred": pred, "gt": rf.frame.labels, "index": ft.name, "status": status})
    return rows


def format_share_table(reports: list[TransferReport], stats: RealStats) -> str:
    """A markdown table of predicted class shares (percent of the non-void pixels), one row
    per class with the real share first and then one column per report."""
    head = "| class | real NYUv2 test % | " + " | ".join(f"{r.model} %" for r in reports) + " |"
    lines = [head, "|" + "---|" * (len(reports) + 2)]
    for c in range(_NUM_CLASSES):
        cells = " | ".join(f"{100 * r.shares[c]:.1f}" for r in reports)
        lines.append(f"| {NYU13_NAMES[c + 1]} | {100 * stats.shares[c]:.1f} | {cells} |")
    return "\n".join(lines)
