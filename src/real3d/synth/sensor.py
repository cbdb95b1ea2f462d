"""A Kinect-v1-like structured-light depth sensor model for synthetic depth maps.

Given the clean z-depth of a render it produces the depth a structured-light camera would
report, effect by effect:

- range limits: nothing below ``min_range_m``, nothing beyond a per-frame maximum range;
- projector shadow: the projector sits ``baseline_m`` beside the camera, so background next
  to a foreground edge that the projector cannot see has no depth (the black band beside
  objects in every Kinect image). It is computed exactly per scanline: a pixel is lit iff
  its projector coordinate ``u - f*b/z`` is not passed by a pixel further along the row;
- edges: lateral jitter of depth discontinuities and flying pixels (a depth between the
  foreground and the background, from the correlation window straddling the edge);
- axial noise ``sigma(z, theta) = a + b*(z - 0.4)**2 + c/sqrt(z) * theta**2/(pi/2-theta)**2``
  (Nguyen, Izadi, Lovell 2012, measured on a Kinect v1), with the disparity quantisation
  to 1/8 pixel (``z = f*b/d``) at the sensor's native 640-pixel width. The model's sigma is
  the *total* error as measured, so the Gaussian part is reduced by the quantisation
  variance and the two together have the published standard deviation;
- dropout: at grazing angles (probabilistic, starting at a per-frame angle), on dark
  surfaces (returned IR signal, falling with 1/z**2, below a threshold), on specular
  or transparent surfaces, and a few random hole blobs. Dark and specular dropout use a
  spatially coherent random field, because real sensors lose blobs, not salt and pepper.

The per-pixel passes are compiled numba kernels (one pass per step, no temporaries);
pixel-sized parameters are given at the native width and scaled to the image width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.synth.camera_effects import (
    GAUSS_FROM_BYTE,
    fast_standard_normal,
    standard_normal_bytes,
)

__all__ = [
    "DepthSensorConfig",
    "axial_noise_sigma_m",
    "disparity_step_m",
    "simulate_depth",
]

# placeholders for optional per-pixel inputs (the compiled kernels take arrays, not None)
_NO_ALBEDO = np.zeros((1, 1), dtype=np.float32)
_NO_MASK = np.zeros((1, 1), dtype=np.bool_)
# arccos(x) = sqrt(1 - x) * sum(c_k x^k) on [0, 1] (Abramowitz & Stegun 4.4.46)
_ACOS_POLY = np.array(
    [
        1.5707963050,
        -0.2145988016,
        0.0889789874,
        -0.0501743046,
        0.0308918810,
        -0.0170881256,
        0.0066700901,
        -0.0012624911,
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class DepthSensorConfig:
    """Sensor parameters; ``(low, high)`` tuples are ranges drawn from once per frame.

    Attributes:
        min_range_m: closest measurable depth.
        max_range_m: range of the farthest measurable depth.
        axial_a_m, axial_b_per_m, axial_z0_m: axial noise ``a + b*(z - z0)**2`` in metres.
        axial_angle_m: coefficient of the angle term of the axial noise (0 disables it).
        baseline_m: projector-camera baseline.
        projector_side: +1 if the projector is at +x (right) of the camera, which puts the
            shadow band on the left of foreground objects as on a Kinect v1; -1 mirrors it.
        shadow: simulate the projector shadow.
        native_width_px: width at which the sensor computes disparity; quantisation and
            pixel-sized parameters refer to it.
        subpixel_steps: disparity steps per pixel (8 on a Kinect v1); 0 disables
            quantisation.
        edge_rel_jump: relative depth jump between 4-neighbours that marks a discontinuity.
        lateral_sigma_px: standard deviation of the lateral jitter of discontinuity pixels.
        p_flying: probability that a discontinuity pixel reports a foreground/background mix.
        grazing_start_deg: range of the view angle (surface normal vs. viewing ray) where
            dropout starts; it rises linearly to certain dropout at ``grazing_full_deg``.
        grazing_full_deg: view angle of certain dropout.
        dark_signal: range of the IR signal ``sqrt(albedo) * (1 + cos(theta))/2 / z**2`` (z
            in metres) below which dark surfaces start dropping out (certain at zero signal).
        p_specular: range of the dropout probability on specular/transparent pixels.
        blob_px: size of the coherent dropout blobs.
        holes_per_frame: mean number of extra random holes (Poisson).
        hole_radius_px: range of the hole radii.
    """

    min_range_m: float = 0.4
    max_range_m: tuple[float, float] = (4.5, 8.0)
    axial_a_m: float = 0.0012
    axial_b_per_m: float = 0.0019
    axial_z0_m: float = 0.4
    axial_angle_m: float = 0.0001
    baseline_m: float = 0.075
    projector_side: int = 1
    shadow: bool = True
    native_width_px: int = 640
    subpixel_steps: int = 8
    edge_rel_jump: float = 0.04
    lateral_sigma_px: float = 0.8
    p_flying: float = 0.5
    grazing_start_deg: tuple[float, float] = (75.0, 85.0)
    grazing_full_deg: float = 89.5
    dark_signal: tuple[float, float] = (0.004, 0.02)
    p_specular: tuple[float, float] = (0.5, 0.95)
    blob_px: float = 12.0
    holes_per_frame: float = 2.0
    hole_radius_px: tuple[float, float] = (2.0, 10.0)

    def __post_init__(self) -> None:
        for name in ("max_range_m", "grazing_start_deg", "dark_signal", "p_specular", "hole_radius_px"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"DepthSensorConfig.{name}: expected low <= high, got {(lo, hi)}")
        checks = (
            (0 <= self.min_range_m < self.max_range_m[0], "0 <= min_range_m < max_range_m"),
            (min(self.axial_a_m, self.axial_b_per_m, self.axial_angle_m) >= 0, "non-negative axial noise coefficients"),
            (self.baseline_m > 0, "baseline_m > 0"),
            (self.projector_side in (-1, 1), "projector_side in (-1, 1)"),
            (self.native_width_px > 0, "native_width_px > 0"),
            (self.subpixel_steps >= 0, "subpixel_steps >= 0"),
            (self.edge_rel_jump > 0, "edge_rel_jump > 0"),
            (self.lateral_sigma_px >= 0, "lateral_sigma_px >= 0"),
            (0 <= self.p_flying <= 1, "p_flying in [0, 1]"),
            (
                0 <= self.grazing_start_deg[0] and self.grazing_start_deg[1] < self.grazing_full_deg <= 90,
                "grazing_start_deg < grazing_full_deg <= 90",
            ),
            (self.dark_signal[0] >= 0, "dark_signal >= 0"),
            (0 <= self.p_specular[0] and self.p_specular[1] <= 1, "p_specular in [0, 1]"),
            (self.blob_px > 0, "blob_px > 0"),
            (self.holes_per_frame >= 0, "holes_per_frame >= 0"),
            (self.hole_radius_px[0] > 0, "hole_radius_px > 0"),
        )
        for ok, what in checks:
            if not ok:
                raise ConfigError(f"DepthSensorConfig: expected {what}")

    @classmethod
    def noise_only(cls, **overrides) -> DepthSensorConfig:
        """Axial noise and quantisation only: no shadows, edge effects, dropout or holes,
        and a fixed 8 m maximum range. Useful to test and to study the noise alone."""
        kw = dict(
            max_range_m=(8.0, 8.0),
            shadow=False,
            lateral_sigma_px=0.0,
            p_flying=0.0,
            grazing_start_deg=(89.9, 89.9),
            grazing_full_deg=90.0,
            dark_signal=(0.0, 0.0),
            p_specular=(0.0, 0.0),
            holes_per_frame=0.0,
        )
        kw.update(overrides)
        return cls(**kw)


def axial_noise_sigma_m(
    z_m: np.ndarray, cfg: DepthSensorConfig = DepthSensorConfig(), theta_rad: np.ndarray | float = 0.0
) -> np.ndarray:
    """Total axial error standard deviation (metres) of the model at depth ``z_m``."""
    z = np.asarray(z_m, dtype=np.float64)
    th = np.minimum(np.asarray(theta_rad, dtype=np.float64), np.pi / 2 - 1e-3)
    angle = cfg.axial_angle_m / np.sqrt(np.maximum(z, 1e-6)) * th**2 / (np.pi / 2 - th) ** 2
    return cfg.axial_a_m + cfg.axial_b_per_m * (z - cfg.axial_z0_m) ** 2 + angle


def disparity_step_m(z_m: np.ndarray, fx_native_px: float, cfg: DepthSensorConfig = DepthSensorConfig()) -> np.ndarray:
    """Depth difference between neighbouring quantised disparities at ``z_m`` (metres):
    ``z**2 / (f*b*steps)``, with f the focal length at the native width."""
    z = np.asarray(z_m, dtype=np.float64)
    return z**2 / (fx_native_px * cfg.baseline_m * max(cfg.subpixel_steps, 1))


def _check(depth, normals, intrinsics, albedo, specular_mask) -> None:
    if not isinstance(intrinsics, Intrinsics):
        raise InputError(
            f"simulate_depth: expected intrinsics to be real3d.Intrinsics, got {type(intrinsics).__name__}"
        )
    hw = intrinsics.size_hw
    if not isinstance(depth, np.ndarray) or depth.dtype != np.float32 or depth.shape != hw:
        raise InputError(
            f"simulate_depth: expected depth_clean_m float32 {hw} (from the intrinsics), got {describe_array(depth)}"
        )
    if not isinstance(normals, np.ndarray) or normals.dtype != np.float32 or normals.shape != hw + (3,):
        raise InputError(f"simulate_depth: expected normals_cam float32 {hw + (3,)}, got {describe_array(normals)}")
    if albedo is not None and (not isinstance(albedo, np.ndarray) or albedo.shape != hw or albedo.dtype != np.float32):
        raise InputError(f"simulate_depth: expected albedo float32 {hw} or None, got {describe_array(albedo)}")
    if specular_mask is not None and (
        not isinstance(specular_mask, np.ndarray) or specular_mask.shape != hw or specular_mask.dtype != np.bool_
    ):
        raise InputError(
            f"simulate_depth: expected specular_mask bool {hw} or None, got {describe_array(specular_mask)}"
        )
    lo, hi = float(depth.min()), float(depth.max())
    if not (lo >= 0 and np.isfinite(hi)):  # NaN fails both comparisons
        raise InputError(f"simulate_depth: expected finite depth >= 0 (0 = invalid), got values in [{lo}, {hi}]")
    # min/max propagate NaN and keep inf, and are cheaper than a sum
    if not (np.isfinite(normals.min()) and np.isfinite(normals.max())):
        raise InputError("simulate_depth: normals_cam contains NaN or inf")


@njit(cache=True, nogil=True)
def _view_cosine(normals, cam, cos_start):
    """|cos| of the angle between each pixel's surface normal and its viewing ray, clipped to
    1, as (H, W) float32; and how many pixels lie past the grazing start (cos < cos_start)."""
    h, w = normals.shape[:2]
    fx, fy, cx, cy = np.float32(cam[0]), np.float32(cam[1]), np.float32(cam[2]), np.float32(cam[3])
    cos_t = np.empty((h, w), dtype=np.float32)
    n_past = 0
    for v in range(h):
        ry = (np.float32(v) - cy) / fy
        for u in range(w):
            rx = (np.float32(u) - cx) / fx
            c = abs(normals[v, u, 0] * rx + normals[v, u, 1] * ry + normals[v, u, 2])
            c = min(c / np.sqrt(rx * rx + ry * ry + np.float32(1.0)), np.float32(1.0))
            cos_t[v, u] = c
            if c < cos_start:
                n_past += 1
    return cos_t, n_past


@njit(cache=True, nogil=True)
def _discontinuities(z, rel):
    """Row-major flat indices of valid pixels with a 4-neighbour that is invalid or whose
    depth is below ``1 - rel`` times the larger of the two."""
    h, w = z.shape
    ratio = np.float32(1.0 - rel)
    out = np.empty(h * w, dtype=np.int64)
    m = 0
    for v in range(h):
        for u in range(w):
            a = z[v, u]
            if a <= 0:
                continue
            jump = False
            for dv, du in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                vv, uu = v + dv, u + du
                if 0 <= vv < h and 0 <= uu < w:
                    b = z[vv, uu]
                    if b <= 0 or min(a, b) < ratio * max(a, b):
                        jump = True
                        break
            if jump:
                out[m] = v * w + u
                m += 1
    return out[:m]


@njit(cache=True, nogil=True)
def _axial_noise(z, cos_t, noise_bytes, gauss, a, b, z0, angle_c, quant_var_c, quant_k):
    """In place on the flat float32 depth ``z``: add the axial noise of the model with a
    standard normal sample per pixel (``gauss[noise_bytes[i]]``), then quantise disparity
    to ``quant_k / z`` steps (``quant_k`` = 0: no quantisation). Pixels with z <= 0 stay 0;
    a disparity of 0 gives inf, which the range test drops."""
    half_pi = np.float32(np.pi / 2)
    for i in range(z.shape[0]):
        zi = z[i]
        if zi <= 0:
            z[i] = 0.0
            continue
        sig = a + b * (zi - z0) * (zi - z0)
        if angle_c > 0:
            # theta^2 / (pi/2 - theta)^2, theta = arccos(cos) from its polynomial form
            # sqrt(1 - x) * P(x) (Abramowitz & Stegun 4.4.46, error < 2e-8 rad on [0, 1]):
            # several times cheaper than the library arccos, and as exact in float32.
            x = min(max(cos_t[i], np.float32(1e-3)), np.float32(1.0))
            p = _ACOS_POLY[7]
            for j in range(6, -1, -1):
                p = p * x + _ACOS_POLY[j]
            theta = np.sqrt(np.float32(1.0) - x) * p
            r = theta / (half_pi - theta)
            sig += angle_c * r * r / np.sqrt(max(zi, np.float32(1e-3)))
        if quant_k > 0:
            # the model's sigma is the total error: take the quantisation variance out
            sig = np.sqrt(max(sig * sig - zi * zi * zi * zi * quant_var_c, np.float32(0.0)))
        zi += sig * gauss[noise_bytes[i]]
        if quant_k > 0:
            d = np.rint(quant_k / zi) if zi != 0 else np.float32(0.0)
            zi = quant_k / d if d != 0 else np.float32(np.inf)
        z[i] = zi


@njit(cache=True, nogil=True)
def _dropout(
    z,
    z_clean,
    cos_t,
    min_range,
    max_range,
    shadow_fb_px,
    side,
    graze_u,
    cos_start,
    graze_inv_span,
    albedo,
    dark_inv_thr,
    specular,
    p_spec,
    coarse,
    cell,
    out,
):
    """Writes ``out`` = ``z`` where the sensor returns a depth and 0 where it does not.

    Per pixel: valid clean depth; within range; not in the projector shadow (exact per
    row, see :func:`simulate_depth`); grazing dropout past ``cos_start`` with the next
    uniform of ``graze_u`` (one per such pixel, row-major); dark/specular dropout where the
    coherent field (``coarse`` bilinearly interpolated at ``cell`` px spacing) is below the
    dropout probability. ``albedo`` / ``specular`` of shape (1, 1) switch those off."""
    h, w = z.shape
    tol = np.float32(1e-3)
    use_dark = albedo.shape[0] == h and dark_inv_thr > 0
    use_spec = specular.shape[0] == h and p_spec > 0
    inv_cell = np.float32(1.0 / cell)
    hidden = np.zeros(w, dtype=np.bool_)
    k = 0
    for v in range(h):
        if shadow_fb_px > 0:
            # projector coordinate p = u - side * f*b/z; hidden iff a pixel further along
            # the row (away from the projector side) has a smaller p (larger for side < 0)
            if side > 0:
                running = np.float32(np.inf)
                for u in range(w - 1, -1, -1):
                    zc = z_clean[v, u]
                    if zc > 0:
                        p = np.float32(u) - shadow_fb_px / zc
                        hidden[u] = p > running + tol
                        running = min(running, p)
                    else:
                        hidden[u] = False
            else:
                running = np.float32(-np.inf)
                for u in range(w):
                    zc = z_clean[v, u]
                    if zc > 0:
                        p = np.float32(u) + shadow_fb_px / zc
                        hidden[u] = p < running - tol
                        running = max(running, p)
                    else:
                        hidden[u] = False
        fy = np.float32(v) * inv_cell
        iy = int(fy)
        ty = fy - np.float32(iy)
        for u in range(w):
            zi = z[v, u]
            zc = z_clean[v, u]
            ct = cos_t[v, u]
            keep = zc > 0 and zi >= min_range and zi <= max_range and not hidden[u]
            if ct < cos_start:
                if graze_u[k] < (cos_start - ct) * graze_inv_span:
                    keep = False
                k += 1
            if keep and (use_dark or use_spec):
                p_dark = np.float32(0.0)
                if use_dark:
                    # IR return ~ sqrt(reflectance) * shading / z^2 (see simulate_depth)
                    zz = max(zc, np.float32(1e-3))
                    alb = min(max(albedo[v, u], np.float32(0.0)), np.float32(1.0))
                    signal = np.sqrt(alb) * (np.float32(0.5) + np.float32(0.5) * ct) / (zz * zz)
                    p_dark = min(max(np.float32(1.0) - signal * dark_inv_thr, np.float32(0.0)), np.float32(1.0))
                p_s = p_spec if use_spec and specular[v, u] else np.float32(0.0)
                p = np.float32(1.0) - (np.float32(1.0) - p_dark) * (np.float32(1.0) - p_s)
                if p > 0:
                    fx = np.float32(u) * inv_cell
                    ix = int(fx)
                    tx = fx - np.float32(ix)
                    top = coarse[iy, ix] * (1 - tx) + coarse[iy, ix + 1] * tx
                    bot = coarse[iy + 1, ix] * (1 - tx) + coarse[iy + 1, ix + 1] * tx
                    if top * (1 - ty) + bot * ty < p:
                        keep = False
            out[v, u] = zi if keep else np.float32(0.0)


def simulate_depth(
    depth_clean_m: np.ndarray,
    normals_cam: np.ndarray,
    intrinsics: Intrinsics,
    rng: np.random.Generator,
    cfg: DepthSensorConfig = DepthSensorConfig(),
    albedo: np.ndarray | None = None,
    specular_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Depth as a Kinect-v1-like sensor would report it.

    Args:
        depth_clean_m: (H, W) float32 z-depth in metres, 0 = no surface; finite, >= 0.
        normals_cam: (H, W, 3) float32 unit surface normals in the camera frame (OpenCV:
            +x right, +y down, +z forward); either orientation; any finite value where depth
            is 0.
        intrinsics: pinhole intrinsics of the image; (H, W) must equal (height, width).
        rng: the only source of randomness; the same generator state gives the same bytes.
        cfg: sensor parameters.
        albedo: (H, W) float32 linear reflectance in [0, 1] (luminance of the albedo), or
            None to skip dark-surface dropout.
        specular_mask: (H, W) bool, True on specular or transparent surfaces, or None.

    Returns:
        (H, W) float32 depth in metres, 0 = invalid; never NaN, inf or negative.

    Raises:
        InputError: shapes that disagree with the intrinsics or each other, wrong dtypes,
            NaN/inf/negative depth, non-finite normals.
    """
    _check(depth_clean_m, normals_cam, intrinsics, albedo, specular_mask)
    h, w = depth_clean_m.shape
    px_scale = w / cfg.native_width_px
    fx_native = intrinsics.fx / px_scale  # focal length at the native width
    fb_native = fx_native * cfg.baseline_m
    cam = np.array([intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy])

    # Per-frame parameters first, in a fixed order (determinism).
    max_range = rng.uniform(*cfg.max_range_m)
    graze_start = np.deg2rad(rng.uniform(*cfg.grazing_start_deg))
    dark_thr = rng.uniform(*cfg.dark_signal)
    p_spec = rng.uniform(*cfg.p_specular)
    n_holes = int(rng.poisson(cfg.holes_per_frame))
    cos_start = np.float32(np.cos(graze_start))
    cos_full = np.cos(np.deg2rad(cfg.grazing_full_deg))

    z_clean = depth_clean_m
    # cosine of the view angle (normal vs. viewing ray), and how many pixels are past the
    # grazing start angle (they get one random number each below)
    cos_t, n_graze = _view_cosine(normals_cam, cam, cos_start)

    # -- edges: lateral jitter and flying pixels (on the few discontinuity pixels only) -----
    z = z_clean.copy()
    edge_idx = _discontinuities(z_clean, cfg.edge_rel_jump)
    ev, eu = edge_idx // w, edge_idx % w
    if ev.size:
        sigma = cfg.lateral_sigma_px * px_scale
        if sigma > 0:
            dv = np.rint(fast_standard_normal(rng, ev.shape) * sigma).astype(np.int64)
            du = np.rint(fast_standard_normal(rng, ev.shape) * sigma).astype(np.int64)
            z[ev, eu] = z_clean[np.clip(ev + dv, 0, h - 1), np.clip(eu + du, 0, w - 1)]
        if cfg.p_flying > 0:
            # The neighbour across the jump: the valid 4-neighbour with the largest difference.
            # (Clamped indices: at the border the pixel is its own neighbour, diff 0.)
            neigh = np.stack(
                [
                    z_clean[np.maximum(ev - 1, 0), eu],
                    z_clean[np.minimum(ev + 1, h - 1), eu],
                    z_clean[ev, np.maximum(eu - 1, 0)],
                    z_clean[ev, np.minimum(eu + 1, w - 1)],
                ],
                axis=1,
            )
            own = z[ev, eu]
            diff = np.where(neigh > 0, np.abs(neigh - own[:, None]), -1.0)
            other = neigh[np.arange(ev.size), diff.argmax(axis=1)]
            fly = (rng.random(ev.size) < cfg.p_flying) & (other > 0) & (own > 0)
            alpha = rng.random(ev.size, dtype=np.float32)
            z[ev[fly], eu[fly]] = own[fly] + alpha[fly] * (other[fly] - own[fly])

    # -- axial noise (total sigma from the model, quantisation variance taken out) and
    # disparity quantisation to 1/steps pixel (z = f*b/d) -----------------------------------
    quant_k = np.float32(fb_native * cfg.subpixel_steps)
    quant_var_c = np.float32(1.0 / (12.0 * (fb_native * max(cfg.subpixel_steps, 1)) ** 2))
    _axial_noise(
        z.reshape(-1),
        cos_t.reshape(-1),
        standard_normal_bytes(rng, h * w),
        GAUSS_FROM_BYTE,
        np.float32(cfg.axial_a_m),
        np.float32(cfg.axial_b_per_m),
        np.float32(cfg.axial_z0_m),
        np.float32(cfg.axial_angle_m),
        quant_var_c,
        quant_k,
    )

    # -- dropout ------------------------------------------------------------------------------
    graze_u = rng.random(n_graze, dtype=np.float32)
    # Dark and specular dropout share one spatially coherent random field: uniform values on
    # a coarse grid of blob_px spacing, bilinearly interpolated, so thresholding it drops
    # blobs instead of single pixels. IR return ~ reflectance * shading / z^2. Visible
    # albedo is a poor proxy for IR reflectance (most dyes and paints reflect near-IR better
    # than visible light), so it is compressed (square root), and the angle enters only
    # weakly because grazing dropout is modelled on its own.
    use_dark = albedo is not None and dark_thr > 0
    use_spec = specular_mask is not None and p_spec > 0
    cell = max(cfg.blob_px * px_scale, 1.0)
    if use_dark or use_spec:
        gh, gw = int(np.ceil(h / cell)) + 2, int(np.ceil(w / cell)) + 2
        coarse = rng.random((gh, gw), dtype=np.float32)
    else:
        coarse = _NO_ALBEDO
    out = np.empty((h, w), dtype=np.float32)
    _dropout(
        z,
        z_clean,
        cos_t,
        np.float32(cfg.min_range_m),
        np.float32(max_range),
        np.float32(intrinsics.fx * cfg.baseline_m if cfg.shadow else 0.0),
        cfg.projector_side,
        graze_u,
        cos_start,
        np.float32(1.0 / (cos_start - cos_full)),
        albedo if use_dark else _NO_ALBEDO,
        np.float32(1.0 / dark_thr if use_dark else 0.0),
        specular_mask if use_spec else _NO_MASK,
        np.float32(p_spec),
        coarse,
        cell,
        out,
    )

    if n_holes:
        cy = rng.uniform(0, h, n_holes)
        cx = rng.uniform(0, w, n_holes)
        rr = rng.uniform(*cfg.hole_radius_px, size=(n_holes, 2)) * px_scale
        lobes = rng.integers(2, 6, n_holes)
        phase = rng.uniform(0, 2 * np.pi, n_holes)
        for y0, x0, (ry, rx), k, ph in zip(cy, cx, rr, lobes, phase, strict=True):
            v0, v1 = int(max(0, y0 - 1.3 * ry)), int(min(h, y0 + 1.3 * ry + 1))
            u0, u1 = int(max(0, x0 - 1.3 * rx)), int(min(w, x0 + 1.3 * rx + 1))
            if v0 >= v1 or u0 >= u1:
                continue
            yy = (np.arange(v0, v1)[:, None] - y0) / ry
            xx = (np.arange(u0, u1)[None, :] - x0) / rx
            # a lobed outline, because sensor holes are irregular, not discs
            edge = 1.0 + 0.3 * np.sin(k * np.arctan2(yy, xx) + ph)
            out[v0:v1, u0:u1][yy**2 + xx**2 <= edge**2] = 0.0
    return out
