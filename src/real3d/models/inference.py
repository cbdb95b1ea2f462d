"""Running a segmentation network on a frame: the input size the network sees, the tensors
it takes, test-time flips and scales, the finiteness check, guided or bilinear upsampling
and the softmax / argmax that turn logits into the project's ``SegmentationResult``
(probabilities (K + 1, H, W) indexed by label id, void channel 0), or, with
``probs_at="network"``, into a ``NetworkSegmentation`` (labels at the frame's size,
probabilities at the network's). Used by ``Real3DVisionNet.predict`` and the graph backends.
"""

from __future__ import annotations
import math
from collections.abc import Sequence
import numpy as np
import torch
import torch.nn.functional as F
from real3d.core.errors import FormatError, InputError, describe_array
from real3d.core.frame import Frame
from real3d.core.segmentation import SegmentationResult
from real3d.nn.guided import guided_upsample
from dataclasses import dataclass
from typing import Protocol


class NetworkConfig(Protocol):
    """What inference reads of a network's config (``real3d.models.SegNetConfig``)."""

    name: str
    infer_hw: tuple[float, float]
    guide_radius: int
    guide_eps: float

    @property
    def uses_rgb(self) -> bool: ...

    @property
    def uses_depth(self) -> bool: ...


NETWORK_STRIDE = 32
"""Output stride of every preset's encoder (five stages of stride 2). Inputs whose sides are
multiples of it keep the stride-32 features aligned with the stride-16 and stride-8 ones in
the decoder; other multiples of 16 leave a half-cell offset between the levels, which cost
the shipped rgbd-default about 0.6 held-out mIoU (docs/segmentation.md, Inference size)."""


def network_size(h: int, w: int, infer_hw: tuple[float, float], multiple: int = NETWORK_STRIDE) -> tuple[int, int]:
    """The size the network runs at for an h x w frame: sides multiples of ``multiple``
    (default ``NETWORK_STRIDE``), with the aspect of h x w as closely as those allow and
    then the area of ``infer_hw`` as closely as possible.

    Each side scaled to the area of ``infer_hw`` is rounded down and up to a multiple; of
    the (up to) four pairs the one with the smallest aspect error wins, ties going to the
    smaller area error. A 4:3 frame with ``infer_hw`` (224, 288) runs at 224 x 288."""
    if h < 1 or w < 1:
        raise InputError(f"network_size: expected a frame size of at least 1 x 1, got {h} x {w}")
    if multiple < 1:
        raise InputError(f"network_size: expected multiple >= 1, got {multiple}")
    area = float(infer_hw[0]) * float(infer_hw[1])
    scale = (area / float(h * w)) ** 0.5

    def sides(v: float) -> set[int]:
        lo = max(1, math.floor(v / multiple)) * multiple
        hi = max(1, math.ceil(v / multiple)) * multiple
        return {lo, hi}

    def cost(hw: tuple[int, int]) -> tuple[float, float]:
        return abs(math.log((hw[1] / hw[0]) / (w / h))), abs(math.log(hw[0] * hw[1] / area))

    return min(((a, b) for a in sides(h * scale) for b in sides(w * scale)), key=cost)


def _owned(a: np.ndarray) -> np.ndarray:
    """Contiguous and writable (torch refuses to wrap a read-only array, such as
    ``np.asarray(PIL.Image)``, without a warning); copies only when it must."""
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


def frame_to_tensors(
    frame: Frame,
    config: NetworkConfig,
    scale: float = 1.0,
    model_name: str | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, tuple[int, int]]:
    """Frame -> (rgb (1, 3, h, w) float [0, 1] or None, depth (1, 1, h, w) metres or None,
    (H, W) of the frame), resized (``resize_inputs``) to ``network_size`` for
    ``config.infer_hw`` times ``scale``. ``model_name`` (default: the config's) names the
    model in errors: the name it was asked for, such as ``rgbd-default``."""
    if not isinstance(frame, Frame):
        raise InputError(f"predict: expected a real3d.Frame, got {type(frame).__name__}")
    if config.uses_depth and frame.depth_m is None:
        raise InputError(
            f"{model_name or config.name} needs depth but the frame has none; use an RGB-only model (rgb-default)"
        )
    h, w = frame.size_hw
    nh, nw = network_size(h, w, (config.infer_hw[0] * scale, config.infer_hw[1] * scale))
    rgb_t = depth_t = None
    if config.uses_rgb:
        rgb_t = torch.from_numpy(_owned(frame.rgb)).permute(2, 0, 1)[None].float() / 255.0
    if config.uses_depth:
        depth_t = torch.from_numpy(_owned(frame.depth_m))[None, None].float()
    rgb_t, depth_t = resize_inputs(rgb_t, depth_t, (nh, nw))
    return rgb_t, depth_t, (h, w)


def resize_inputs(
    rgb: torch.Tensor | None, depth_m: torch.Tensor | None, size_hw: tuple[int, int]
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(B, 3, H, W) RGB and (B, 1, H, W) depth (either may be None) resized to ``size_hw``
    as ``predict`` resizes them: RGB bilinear with antialiasing, depth nearest-neighbour
    so invalid zeros never blend into valid depth. Tensors already at that size pass as is."""
    size_hw = (int(size_hw[0]), int(size_hw[1]))
    if rgb is not None and tuple(rgb.shape[-2:]) != size_hw:
        rgb = F.interpolate(rgb, size=size_hw, mode="bilinear", align_corners=False, antialias=True)
    if depth_m is not None and tuple(depth_m.shape[-2:]) != size_hw:
        depth_m = F.interpolate(depth_m, size=size_hw, mode="nearest")
    return rgb, depth_m


def logits_to_result(logits, out_hw: tuple[int, int], head: str = "refined", flipped_logits=None) -> SegmentationResult:
    """(1, K, h, w) logits (torch or numpy) -> SegmentationResult at out_hw.

    ``flipped_logits``: the logits of the horizontally mirrored frame, same shape; their
    class probabilities, mirrored back, are averaged with those of ``logits``.
    """
    buf = _probs_buffer(logits, out_hw)
    _mean_probs(logits, out_hw, flipped_logits, out=buf[1:])
    return _result(buf, head)


PROBS_AT = ("frame", "network")
"""Where ``predict(frame, probs_at=...)`` gives the class probabilities: at the frame's size
(a ``SegmentationResult``) or at the network's (a ``NetworkSegmentation``)."""


@dataclass(frozen=True)
class NetworkSegmentation:
    """One frame's segmentation with the labels at the frame's size and the class
    probabilities at the size the network ran at (``predict(frame, probs_at="network")``).

    The network ran on the frame resized to (h, w) (``network_size``); network pixel
    (i, j) covers frame pixels around ((i + 0.5) H / h - 0.5, (j + 0.5) W / w - 0.5), the
    convention of bilinear resizing with ``align_corners=False``. ``labels`` are the first
    most probable class of the logits resized to the frame, as
    ``predict(frame, guided=False).labels`` (they can differ only where two classes tie
    within float rounding); ``probs`` are the softmax of the logits before that resize.

    Attributes:
        labels: (H, W) uint8 NYUv2-13 ids at the frame's size; never 0.
        probs: (K + 1, h, w) float32 class probabilities at the network's size indexed by
            label id; channel 0 (void) is all zeros, channels 1..K sum to 1 at every pixel.
        head: ``"refined"`` or ``"coarse"``.

    Raises:
        InputError: a field of the wrong type, shape or dtype, labels beyond the last
            channel, or another head name.
    """

    labels: np.ndarray
    probs: np.ndarray
    head: str = "refined"

    def __post_init__(self) -> None:
        lab, p = self.labels, self.probs
        if not isinstance(p, np.ndarray) or p.ndim != 3 or p.dtype != np.float32 or p.shape[0] < 2:
            raise InputError(
                "NetworkSegmentation.probs: expected a (K + 1, h, w) float32 array with K >= 1, "
                f"got {describe_array(p)}"
            )
        if not isinstance(lab, np.ndarray) or lab.ndim != 2 or lab.dtype != np.uint8 or min(lab.shape) < 1:
            raise InputError(f"NetworkSegmentation.labels: expected an (H, W) uint8 array, got {describe_array(lab)}")
        if int(lab.max()) >= p.shape[0]:
            raise InputError(
                f"NetworkSegmentation.labels: expected ids in [0, {p.shape[0] - 1}] (a channel of probs), "
                f"got a label {int(lab.max())}"
            )
        if self.head not in ("refined", "coarse"):
            raise InputError(f"NetworkSegmentation.head: expected 'refined' or 'coarse', got {self.head!r}")

    @property
    def frame_hw(self) -> tuple[int, int]:
        """(H, W) of the frame: the labels' size."""
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    @property
    def network_hw(self) -> tuple[int, int]:
        """(h, w) the network ran at: the probabilities' size."""
        return (int(self.probs.shape[1]), int(self.probs.shape[2]))

    def network_pixels(self, v: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network pixel (row, column) nearest each frame pixel (v, u) (integer arrays
        of frame rows and columns): ``floor((v + 0.5) h / H)``, clipped to the grid."""
        (fh, fw), (h, w) = self.frame_hw, self.network_hw
        i = np.minimum(((np.asarray(v, np.int64) * 2 + 1) * h) // (2 * fh), h - 1)
        j = np.minimum(((np.asarray(u, np.int64) * 2 + 1) * w) // (2 * fw), w - 1)
        return i, j

    def probs_at_pixels(self, v: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(N, K + 1) float32 class probabilities at frame pixels (v, u) ((N,) integer rows
        and columns), read at the nearest network pixel (``network_pixels``)."""
        i, j = self.network_pixels(v, u)
        return self.probs[:, i, j].T


def network_result(logits, out_hw: tuple[int, int], head: str = "refined") -> NetworkSegmentation:
    """(1, K, h, w) logits (torch or numpy) -> ``NetworkSegmentation``: probabilities at
    (h, w), labels at ``out_hw``.

    One pass over the logits gives each pixel's maximum (for the softmax) and its class;
    the softmax is written into a (K + 1, h, w) buffer whose channel 0 is the void channel.
    The labels at the frame's size are the argmax of the bilinearly resized logits
    (``align_corners=False``), computed only where it can differ from the network pixel's
    class: a resized pixel whose four source pixels agree on the class has that class
    (the resize is a convex combination, per class the same weights), so the full resize
    runs only on the pixels near a class boundary."""
    t = torch.as_tensor(logits).float()
    if t.ndim != 4 or t.shape[0] != 1:
        raise InputError(f"network_result: expected (1, K, h, w) logits, got {tuple(t.shape)}")
    t = t[0]
    k = t.shape[0]
    buf = torch.empty((k + 1, *t.shape[1:]), dtype=torch.float32)
    buf[0].zero_()
    peak, cls = t.max(dim=0)
    e = buf[1:]
    torch.sub(t, peak, out=e)
    e.exp_()
    e.div_(e.sum(dim=0))
    labels = _resized_argmax(t.contiguous().numpy(), cls.to(torch.uint8).numpy(), out_hw)
    labels += 1
    return NetworkSegmentation(labels=labels, probs=buf.numpy(), head=head)


def _source_pixels(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear resize from n_in to n_out samples (``align_corners=False``, as torch): for
    each output sample its two source indices and their float32 weights."""
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = (src - i0).astype(np.float32)
    return i0, i1, (1.0 - w1).astype(np.float32), w1


def _resized_argmax(logits: np.ndarray, cls: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 first-maximum class (0-based) of (K, h, w) ``logits`` resized
    bilinearly to ``out_hw``; ``cls`` (h, w) uint8 is their argmax at (h, w)."""
    k, h, w = logits.shape
    y0, y1, wy0, wy1 = _source_pixels(out_hw[0], h)
    x0, x1, wx0, wx1 = _source_pixels(out_hw[1], w)
    r0, r1 = cls.take(y0, axis=0), cls.take(y1, axis=0)
    out = r0.take(x0, axis=1)
    mixed = (out != r0.take(x1, axis=1)) | (out != r1.take(x0, axis=1)) | (out != r1.take(x1, axis=1))
    yy, xx = np.nonzero(mixed)
    if yy.size:
        flat = logits.reshape(k, h * w)
        a, b = y0[yy] * w, y1[yy] * w
        c, d = x0[xx], x1[xx]
        u0, u1 = wx0[xx], wx1[xx]
        top = u0 * flat.take(a + c, axis=1) + u1 * flat.take(a + d, axis=1)
        bottom = u0 * flat.take(b + c, axis=1) + u1 * flat.take(b + d, axis=1)
        out[yy, xx] = (wy0[yy] * top + wy1[yy] * bottom).argmax(axis=0)
    return out


SCALE_RANGE = (0.25, 4.0)


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """Test-time scales as a tuple of floats; InputError unless 1 to 8 finite values in
    ``SCALE_RANGE``."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence):
        raise InputError(f"scales: expected a sequence of floats such as (1.0, 1.2), got {scales!r}")
    try:
        out = tuple(float(v) for v in scales)
    except (TypeError, ValueError):
        raise InputError(f"scales: expected numbers, got {scales!r}") from None
    lo, hi = SCALE_RANGE
    if not 1 <= len(out) <= 8 or not all(math.isfinite(v) and lo <= v <= hi for v in out):
        raise InputError(f"scales: expected 1 to 8 values in [{lo}, {hi}], got {scales!r}")
    return out


def tta_predict(
    run,
    frame: Frame,
    config: NetworkConfig,
    head: str,
    flip: bool = False,
    scales: Sequence[float] = (1.0,),
    guided: bool | None = None,
    *,
    model_name: str | None = None,
    probs_at: str = "frame",
) -> SegmentationResult | NetworkSegmentation:
    """The ``predict`` of every backend: ``run(rgb, depth)`` maps the network inputs
    (``frame_to_tensors``; a batch of 2 with ``flip``, the frame then its mirror) to
    (B, K, h, w) logits. The class distributions of every scale (and mirror) are
    resized to the frame and averaged; with ``guided`` (None: when ``config.guide_radius``
    is set) each scale's are upsampled along the colour image's edges (``guided_probs``).

    ``probs_at="network"`` returns a ``NetworkSegmentation`` instead: the probabilities
    stay at the network's size and only the labels are made at the frame's
    (``network_result``); it takes the plain path only (no flip, one scale of 1.0,
    ``guided`` None or False; None then means False).

    Logits that are not all finite raise FormatError naming ``model_name`` (default: the
    config's name): the inputs are finite, so the weights are corrupt. An unknown
    ``probs_at``, or ``"network"`` with test-time augmentation, raises InputError."""
    scales = check_scales(scales)
    who = model_name or config.name
    if probs_at not in PROBS_AT:
        raise InputError(f"probs_at: expected one of {', '.join(PROBS_AT)}, got {probs_at!r}")
    if probs_at == "network":
        if flip or scales != (1.0,) or guided:
            raise InputError(
                f"probs_at='network' takes the plain path only (flip=False, scales=(1.0,), guided False or None); "
                f"got flip={flip}, scales={scales}, guided={guided}"
            )
        rgb_t, depth_t, out_hw = frame_to_tensors(frame, config, model_name=who)
        logits = run(rgb_t, depth_t)
        check_finite_logits(logits, who)
        return network_result(logits, out_hw, head)
    if guided is None:
        guided = config.guide_radius > 0
    elif guided and config.guide_radius <= 0:
        raise InputError(f"{config.name}: guided=True needs a config with guide_radius > 0")
    frame_guide = None
    if guided:
        frame_guide = torch.from_numpy(_owned(frame.rgb)).permute(2, 0, 1)[None].float().div_(255.0)
    buf = None
    for n, s in enumerate(scales):
        rgb_t, depth_t, out_hw = frame_to_tensors(frame, config, scale=s, model_name=who)
        if flip:
            rgb_t = None if rgb_t is None else torch.cat([rgb_t, rgb_t.flip(-1)])
            depth_t = None if depth_t is None else torch.cat([depth_t, depth_t.flip(-1)])
        logits = run(rgb_t, depth_t)
        check_finite_logits(logits, who)
        if n == 0:
            buf = _probs_buffer(logits, out_hw)
        if frame_guide is not None:
            # the filter's output at the frame's size (its edges), unless the frame has more
            # than GUIDED_MAX_AREA times the network's pixels: then at the network's size,
            # the probabilities resized to the frame as the plain path resizes logits
            big = out_hw[0] * out_hw[1] > GUIDED_MAX_AREA * rgb_t.shape[-2] * rgb_t.shape[-1]
            p = guided_probs(
                logits[:1],
                rgb_t[:1] if big else frame_guide,
                config.guide_radius,
                config.guide_eps,
                logits[1:] if flip else None,
                guide_low=_area(rgb_t[:1], (rgb_t.shape[-2] // 2, rgb_t.shape[-1] // 2)),
            )
            if big:
                p = F.interpolate(p.contiguous()[None], size=out_hw, mode="bilinear", align_corners=False)[0]
            if n == 0:
                buf[1:] = p
            else:
                buf[1:] += p
        elif n == 0:
            _mean_probs(logits[:1], out_hw, logits[1:] if flip else None, out=buf[1:])
        else:
            buf[1:] += _mean_probs(logits[:1], out_hw, logits[1:] if flip else None)
    if len(scales) > 1:
        buf[1:] /= len(scales)
    return _result(buf, head)


def check_finite_logits(logits, who: str) -> None:
    """FormatError naming the model ``who`` unless every value of ``logits`` (torch or
    numpy) is finite. Inputs reach the network finite (``Frame`` refuses NaN and inf), so
    a non-finite output means corrupt weights. The test is on the sum, which any NaN or inf
    makes non-finite (finite logits would need magnitudes near 1e32 to overflow it); one
    reduction is much cheaper than ``isfinite(x).all()``."""
    if isinstance(logits, torch.Tensor):
        ok = bool(torch.isfinite(logits.sum()))
    else:
        ok = bool(np.isfinite(np.asarray(logits).sum()))
    if not ok:
        raise FormatError(
            f"{who}: the network's output holds NaN or inf for a finite input: its weights are "
            "corrupt; load them again from a checked file (load_weights verifies the card's sha256)"
        )


GUIDED_MAX_AREA = 2.0
"""With guided upsampling, frames of up to this many times the network's pixel count are
filtered at their own size (a 240x320 frame, 1.19 times 224x288); larger ones at the
network's size, then resized bilinearly: the filter's cost grows with its output's pixels
(docs/segmentation.md, Guided upsampling, gives the figures)."""


def guided_probs(
    logits, guide: torch.Tensor, radius: int, eps: float, flipped_logits=None, *, guide_low: torch.Tensor
) -> torch.Tensor:
    """(1, K, h, w) network logits -> (K, H, W) class probabilities at the size of ``guide``
    ((1, 3, H, W) RGB in [0, 1], the frame), upsampled along its edges.

    The logits are area-resized to half the network size (the grid of the refined head,
    whose output the network upsamples bilinearly) and turned into probabilities there,
    averaged with the mirrored frame's when given; ``real3d.nn.guided.guided_upsample``
    fits the filter on that grid against ``guide_low``, (1, 3, h/2, w/2) RGB on that grid
    (``predict`` passes its network input averaged over 2 x 2 pixels), and applies it at the
    frame's size."""
    t = torch.as_tensor(logits).float()
    if t.ndim != 4 or t.shape[0] != 1:
        raise InputError(f"guided_probs: expected (1, K, h, w) logits, got {tuple(t.shape)}")
    low_hw = (max(1, t.shape[2] // 2), max(1, t.shape[3] // 2))
    p = _area(t, low_hw).softmax(1)
    if flipped_logits is not None:
        f = torch.as_tensor(flipped_logits).float()
        if f.shape != t.shape:
            raise InputError(f"guided_probs: flipped_logits {tuple(f.shape)} differ from logits {tuple(t.shape)}")
        p = p.add_(_area(f, low_hw).softmax(1).flip(-1)).mul_(0.5)
    return guided_upsample(p, guide_low, guide, radius, eps)[0]


def _area(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area resize; when the size is exactly half, the mean of the four strided quarters
    (cheaper on CPU than ``avg_pool2d``)."""
    if x.shape[-2] == 2 * size[0] and x.shape[-1] == 2 * size[1]:
        return (x[..., ::2, ::2] + x[..., 1::2, ::2] + x[..., ::2, 1::2] + x[..., 1::2, 1::2]).mul_(0.25)
    return F.interpolate(x, size=size, mode="area")


def _probs_buffer(logits, out_hw: tuple[int, int]) -> torch.Tensor:
    """(K + 1, H, W) float32 for a result's probabilities, channel 0 (void) zero; the class
    channels are written in place, so no copy adds the void channel afterwards."""
    if getattr(logits, "ndim", 0) != 4:
        raise InputError(f"logits_to_result: expected (1, K, h, w), got {tuple(getattr(logits, 'shape', ()))}")
    buf = torch.empty((int(logits.shape[1]) + 1, *out_hw), dtype=torch.float32)
    buf[0].zero_()
    return buf


def _mean_probs(logits, out_hw: tuple[int, int], flipped_logits=None, out: torch.Tensor | None = None) -> torch.Tensor:
    """(K, H, W) class probabilities at out_hw (in ``out`` when given), averaged with those
    of the mirrored frame's logits when given."""
    p = _probs_at(logits, out_hw, out)
    if flipped_logits is not None:
        q = _probs_at(flipped_logits, out_hw)
        if q.shape != p.shape:
            raise InputError(f"logits_to_result: flipped_logits {tuple(q.shape)} differ from logits {tuple(p.shape)}")
        p.add_(q.flip(-1)).mul_(0.5)
    return p


def _result(buf: torch.Tensor, head: str) -> SegmentationResult:
    """(K + 1, H, W) probabilities, void channel 0 zero -> SegmentationResult.

    The labels come from ``max(dim=0).indices`` (the first maximum, as ``argmax``): torch's
    ``argmax`` over the leading dimension of a (K, H, W) tensor is many times slower on CPU
    (docs/segmentation.md)."""
    labels = (buf[1:].max(dim=0).indices + 1).to(torch.uint8).numpy()
    return SegmentationResult(labels=labels, probs=buf.numpy(), head=head)


def _probs_at(logits, out_hw: tuple[int, int], out: torch.Tensor | None = None) -> torch.Tensor:
    """(1, K, h, w) logits -> (K, H, W) softmax probabilities at out_hw (bilinear logits),
    in ``out`` when given. The softmax over the leading dimension is written out (max,
    subtract, exp, divide in place), which on CPU costs about half of ``torch.softmax`` and a
    copy that adds the void channel."""
    t = torch.as_tensor(logits).float()
    if t.ndim != 4 or t.shape[0] != 1:
        raise InputError(f"logits_to_result: expected (1, K, h, w), got {tuple(t.shape)}")
    if tuple(t.shape[2:]) != tuple(out_hw):
        t = F.interpolate(t, size=out_hw, mode="bilinear", align_corners=False)
    t = t[0]
    e = torch.empty_like(t) if out is None else out
    torch.sub(t, t.amax(dim=0), out=e)
    e.exp_()
    return e.div_(e.sum(dim=0))
