"""Edge-aware upsampling of class probabilities with the colour image as guide.

The network's output is at half its input size and is upsampled to the frame, so label
boundaries fall where the interpolation puts them, not where the image's edges are. A
guided filter (He, Sun and Tang, "Guided Image Filtering", ECCV 2010) models the output in
every window as an affine function of the guide image, so its edges follow the guide's. In
its fast form (He and Sun, 2015) the affine coefficients are fitted on a coarse grid, here
that of the probabilities, upsampled, and applied to the full-resolution guide:

    for each window w of radius r on the coarse grid, per class k:
        a_k = (Cov_w(I) + eps * Id)^-1 Cov_w(I, p_k),  b_k = mean_w(p_k) - a_k . mean_w(I)
    q_k = mean(a_k) . I_full + mean(b_k)   (window means, upsampled bilinearly)

The filter is linear in p, so the classes' outputs still sum to one; they can leave [0, 1]
slightly and are clipped and renormalised. ``eps`` (guide in [0, 1] units squared) sets
which edges count: smaller follows fainter edges.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from real3d.core.errors import InputError, describe_array


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of (B, C, H, W) ``x`` over (2r+1) x (2r+1) windows, the windows cut at the
    border (each mean over the pixels inside the image). Sums of shifted views of the
    zero-padded input, one direction then the other, divided by each window's pixel count:
    on these CPUs a few times faster than depthwise convolutions, pooling or cumulative
    sums for radii up to about 4."""
    if radius < 0:
        raise InputError(f"box_mean: expected radius >= 0, got {radius}")
    if radius == 0:
        return x
    h, w = x.shape[-2:]
    k = 2 * radius + 1
    p = F.pad(x, (radius, radius, radius, radius))
    rows = p[..., :, 0:w].clone()
    for d in range(1, k):
        rows += p[..., :, d : d + w]
    out = rows[..., 0:h, :].clone()
    for d in range(1, k):
        out += rows[..., d : d + h, :]
    return out.div_(_counts(h, radius, x)[:, None] * _counts(w, radius, x)[None, :])


def _counts(n: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    j = torch.arange(n, device=like.device)
    return ((j + radius + 1).clamp(max=n) - (j - radius).clamp(min=0)).to(like.dtype)


def _inverse_sym(s: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Inverse of per-pixel symmetric C x C matrices given as C x C lists of (B, 1, h, w)
    maps (closed form for C <= 3, elementwise, much faster than a batched solver)."""
    c = len(s)
    if c == 1:
        return [[1.0 / s[0][0]]]
    if c == 2:
        det = s[0][0] * s[1][1] - s[0][1] * s[0][1]
        return [[s[1][1] / det, -s[0][1] / det], [-s[0][1] / det, s[0][0] / det]]
    if c == 3:
        c00 = s[1][1] * s[2][2] - s[1][2] * s[1][2]
        c01 = s[0][2] * s[1][2] - s[0][1] * s[2][2]
        c02 = s[0][1] * s[1][2] - s[0][2] * s[1][1]
        c11 = s[0][0] * s[2][2] - s[0][2] * s[0][2]
        c12 = s[0][1] * s[0][2] - s[0][0] * s[1][2]
        c22 = s[0][0] * s[1][1] - s[0][1] * s[0][1]
        det = s[0][0] * c00 + s[0][1] * c01 + s[0][2] * c02
        inv = [c00 / det, c01 / det, c02 / det, c11 / det, c12 / det, c22 / det]
        return [[inv[0], inv[1], inv[2]], [inv[1], inv[3], inv[4]], [inv[2], inv[4], inv[5]]]
    m = torch.stack([torch.stack(row, -1) for row in s], -2)  # (B, 1, h, w, C, C)
    m = torch.linalg.inv(m)
    return [[m[..., i, j] for j in range(c)] for i in range(c)]


def guided_upsample(
    probs: torch.Tensor, guide_low: torch.Tensor, guide: torch.Tensor, radius: int, eps: float
) -> torch.Tensor:
    """Class probabilities at the guide's full size, their edges following the guide's.

    Args:
        probs: (B, K, h, w) class probabilities on the coarse grid.
        guide_low: (B, C, h, w) the guide image on that grid (e.g. area-resized RGB in [0, 1]).
        guide: (B, C, H, W) the guide at the output size.
        radius: window radius on the coarse grid, >= 1.
        eps: regularisation, > 0 (in squared guide units).
    Returns:
        (B, K, H, W) float32 in channels-last memory order (``.contiguous()`` makes planes),
        each pixel's values in [0, 1] summing to one.
    """
    if probs.ndim != 4 or guide_low.ndim != 4 or guide.ndim != 4:
        raise InputError(
            "guided_upsample: expected probs (B, K, h, w), guide_low (B, C, h, w), guide (B, C, H, W); "
            f"got {describe_array(probs)}, {describe_array(guide_low)}, {describe_array(guide)}"
        )
    b, k, h, w = probs.shape
    c = guide_low.shape[1]
    if guide_low.shape != (b, c, h, w) or guide.shape[:2] != (b, c):
        raise InputError(
            f"guided_upsample: guide_low {tuple(guide_low.shape)} must be (B, C, h, w) with probs' "
            f"{(b, k, h, w)}, guide {tuple(guide.shape)} (B, C, H, W) with the same B, C"
        )
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise InputError(f"guided_upsample: expected an integer radius >= 1, got {radius!r}")
    if isinstance(eps, bool) or not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise InputError(f"guided_upsample: expected eps > 0, got {eps!r}")
    probs, guide_low, guide = probs.float(), guide_low.float(), guide.float()
    pairs = [(i, j) for i in range(c) for j in range(i, c)]
    # every window mean in one pass: p (K), I (C), I_c * p (C * K), I_i * I_j (pairs)
    stats = box_mean(
        torch.cat(
            [
                probs,
                guide_low,
                (guide_low[:, :, None] * probs[:, None]).reshape(b, c * k, h, w),
                *[guide_low[:, i : i + 1] * guide_low[:, j : j + 1] for i, j in pairs],
            ],
            1,
        ),
        radius,
    )
    mean_p = stats[:, :k]  # (B, K, h, w)
    mean_i = [stats[:, k + i : k + i + 1] for i in range(c)]  # C x (B, 1, h, w)
    # everything below works on whole contiguous planes: on these CPUs broadcasting over
    # extra dimensions or changing the memory order cost more than the arithmetic
    cov = [stats[:, k + c + i * k : k + c + (i + 1) * k] - mean_i[i] * mean_p for i in range(c)]  # C x (B, K, h, w)
    base = k + c + c * k
    sigma = [[None] * c for _ in range(c)]
    for n, (i, j) in enumerate(pairs):
        v = stats[:, base + n : base + n + 1] - mean_i[i] * mean_i[j]
        if i == j:
            v = v + eps
        sigma[i][j] = sigma[j][i] = v
    inv = _inverse_sym(sigma)
    a = []  # C x (B, K, h, w): per class, Sigma^-1 cov
    for d in range(c):
        ad = cov[0] * inv[d][0]
        for i in range(1, c):
            ad.addcmul_(cov[i], inv[d][i])
        a.append(ad)
    bias = mean_p.clone()
    for d in range(c):
        bias.addcmul_(a[d], mean_i[d], value=-1.0)
    coef = box_mean(torch.cat([*a, bias], 1), radius)
    big_h, big_w = guide.shape[-2:]
    # channels-last for the resize to full size: on one thread torch resized 52 planes of
    # 112x144 to 240x320 several times slower than the same values stored pixel by pixel
    coef = coef.contiguous(memory_format=torch.channels_last)
    if (big_h, big_w) != (h, w):
        coef = F.interpolate(coef, size=(big_h, big_w), mode="bilinear", align_corners=False)
    hwc = coef.permute(0, 2, 3, 1)  # (B, H, W, (C + 1) K), contiguous
    g = guide.permute(0, 2, 3, 1)
    q = hwc[..., c * k :].clone()
    for d in range(c):
        q.addcmul_(hwc[..., d * k : (d + 1) * k], g[..., d : d + 1])
    q.clamp_(0.0, 1.0)
    q.div_(q.sum(-1, keepdim=True).clamp_min_(1e-6))
    return q.permute(0, 3, 1, 2)  # (B, K, H, W) in channels-last memory order
