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

Everything is vectorised numpy; pixel-sized parameters are given at the native width and
scaled to the image width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.synth.camera_effects import fast_standard_normal

__all__ = [
    "DepthSensorConfig",
    "axial_noise_sigma_m",
    "disparity_step_m",
    "simulate_depth",
]


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
        for name in ("max_range_m", "grazing_start_deg", "dark_signal", "p_specular",
                     "hole_radius_px"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"DepthSensorConfig.{name}: expected low <= high, got "
                                  f"{(lo, hi)}")
        checks = (
            (0 <= self.min_range_m < self.max_range_m[0], "0 <= min_range_m < max_range_m"),
            (min(self.axial_a_m, self.axial_b_per_m, self.axial_angle_m) >= 0,
             "non-negative axial noise coefficients"),
            (self.baseline_m > 0, "baseline_m > 0"),
            (self.projector_side in (-1, 1), "projector_side in (-1, 1)"),
            (self.native_width_px > 0, "native_width_px > 0"),
            (self.subpixel_steps >= 0, "subpixel_steps >= 0"),
            (self.edge_rel_jump > 0, "edge_rel_jump > 0"),
            (self.lateral_sigma_px >= 0, "lateral_sigma_px >= 0"),
            (0 <= self.p_flying <= 1, "p_flying in [0, 1]"),
            (0 <= self.grazing_start_deg[0] and self.grazing_start_deg[1] < self.grazing_full_deg
             <= 90, "grazing_start_deg < grazing_full_deg <= 90"),
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
        kw = dict(max_range_m=(8.0, 8.0), shadow=False, lateral_sigma_px=0.0, p_flying=0.0,
                  grazing_start_deg=(89.9, 89.9), grazing_full_deg=90.0,
                  dark_signal=(0.0, 0.0), p_specular=(0.0, 0.0), holes_per_frame=0.0)
        kw.update(overrides)
        return cls(**kw)


def axial_noise_sigma_m(z_m: np.ndarray, cfg: DepthSensorConfig = DepthSensorConfig(),
                        theta_rad: np.ndarray | float = 0.0) -> np.ndarray:
    """Total axial error standard deviation (metres) of the model at depth ``z_m``."""
    z = np.asarray(z_m, dtype=np.float64)
    th = np.minimum(np.asarray(theta_rad, dtype=np.float64), np.pi / 2 - 1e-3)
    angle = cfg.axial_angle_m / np.sqrt(np.maximum(z, 1e-6)) * th**2 / (np.pi / 2 - th) ** 2
    return cfg.axial_a_m + cfg.axial_b_per_m * (z - cfg.axial_z0_m) ** 2 + angle


def disparity_step_m(z_m: np.ndarray, fx_native_px: float,
                     cfg: DepthSensorConfig = DepthSensorConfig()) -> np.ndarray:
    """Depth difference between neighbouring quantised disparities at ``z_m`` (metres):
    ``z**2 / (f*b*steps)``, with f the focal length at the native width."""
    z = np.asarray(z_m, dtype=np.float64)
    return z**2 / (fx_native_px * cfg.baseline_m * max(cfg.subpixel_steps, 1))


def _check(depth, normals, intrinsics, albedo, specular_mask) -> None:
    if not isinstance(intrinsics, Intrinsics):
        raise InputError(f"simulate_depth: expected intrinsics to be real3d.Intrinsics, got "
                         f"{type(intrinsics).__name__}")
    hw = intrinsics.size_hw
    if not isinstance(depth, np.ndarray) or depth.dtype != np.float32 or depth.shape != hw:
        raise InputError(f"simulate_depth: expected depth_clean_m float32 {hw} (from the "
                         f"intrinsics), got {describe_array(depth)}")
    if not isinstance(normals, np.ndarray) or normals.dtype != np.float32 or \
            normals.shape != hw + (3,):
        raise InputError(f"simulate_depth: expected normals_cam float32 {hw + (3,)}, got "
                         f"{describe_array(normals)}")
    if albedo is not None and (not isinstance(albedo, np.ndarray) or albedo.shape != hw
                               or albedo.dtype != np.float32):
        raise InputError(f"simulate_depth: expected albedo float32 {hw} or None, got "
                         f"{describe_array(albedo)}")
    if specular_mask is not None and (not isinstance(specular_mask, np.ndarray)
                                      or specular_mask.shape != hw
                                      or specular_mask.dtype != np.bool_):
        raise InputError(f"simulate_depth: expected specular_mask bool {hw} or None, got "
                         f"{describe_array(specular_mask)}")
    lo, hi = float(depth.min()), float(depth.max())
    if not (lo >= 0 and np.isfinite(hi)):  # NaN fails both comparisons
        raise InputError(f"simulate_depth: expected finite depth >= 0 (0 = invalid), got "
                         f"values in [{lo}, {hi}]")
    # min/max propagate NaN and keep inf, and are cheaper than a sum
    if not (np.isfinite(normals.min()) and np.isfinite(normals.max())):
        raise InputError("simulate_depth: normals_cam contains NaN or inf")


def _discontinuities(z: np.ndarray, valid: np.ndarray, rel: float) -> np.ndarray:
    """Valid pixels with a 4-neighbour whose depth differs by more than ``rel`` of the larger
    one, or with an invalid 4-neighbour. (H, W) bool.

    Works on log depth: ``min < (1 - rel) * max`` is ``|log a - log b| > -log(1 - rel)``,
    one subtraction per pair. log(0) = -inf makes invalid neighbours jumps, and two invalid
    neighbours give NaN, which compares False.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lz = np.log(z)
        thr = np.float32(-np.log1p(-rel))
        edge = np.zeros(z.shape, dtype=bool)
        for a, b, ea, eb, va, vb in (
            (lz[:, 1:], lz[:, :-1], edge[:, 1:], edge[:, :-1], valid[:, 1:], valid[:, :-1]),
            (lz[1:], lz[:-1], edge[1:], edge[:-1], valid[1:], valid[:-1]),
        ):
            d = a - b
            np.abs(d, out=d)
            jump = d > thr
            ea |= jump & va
            eb |= jump & vb
    return edge


def _projector_shadow(z: np.ndarray, fb_px_m: float, side: int) -> np.ndarray:
    """Pixels the projector cannot see (exact per-scanline visibility), (H, W) bool.

    Projector coordinate along the row: ``p = u - side*f*b/z``. With the projector at +x,
    a pixel is hidden iff some pixel to its right has a smaller ``p`` (a nearer surface
    crossing the projector ray); mirrored for -x. Invalid pixels never occlude.
    """
    h, w = z.shape
    invalid = z <= 0
    with np.errstate(divide="ignore"):
        shift = np.float32(fb_px_m) / z  # disparity in pixels; inf where invalid
    u = np.arange(w, dtype=np.float32)[None, :]
    tol = np.float32(1e-3)
    shadow = np.zeros((h, w), dtype=bool)
    if side > 0:
        p = u - shift
        p[invalid] = np.inf
        after = np.minimum.accumulate(p[:, ::-1], axis=1)[:, ::-1]
        shadow[:, :-1] = p[:, :-1] > after[:, 1:] + tol
    else:
        p = u + shift
        p[invalid] = -np.inf
        before = np.maximum.accumulate(p, axis=1)
        shadow[:, 1:] = p[:, 1:] < before[:, :-1] - tol
    shadow &= ~invalid
    return shadow


def _coherent_uniform_at(rng: np.random.Generator, h: int, w: int, cell_px: float,
                         flat_idx: np.ndarray) -> np.ndarray:
    """A smooth random field in [0, 1] evaluated at the pixels ``flat_idx`` (row-major).

    Uniform values on a coarse grid of ``cell_px`` spacing, bilinearly interpolated:
    thresholding it gives blobs instead of single pixels. Only the requested pixels are
    interpolated, because dark or specular surfaces usually cover a small part of a frame.
    """
    cell = max(cell_px, 1.0)
    gh, gw = int(np.ceil(h / cell)) + 2, int(np.ceil(w / cell)) + 2
    coarse = rng.random((gh, gw), dtype=np.float32).ravel()
    fy = (flat_idx // w).astype(np.float32) / np.float32(cell)
    fx = (flat_idx % w).astype(np.float32) / np.float32(cell)
    iy, ix = fy.astype(np.int64), fx.astype(np.int64)
    ty, tx = fy - iy, fx - ix
    i00 = iy * gw + ix
    top = coarse[i00] * (1 - tx) + coarse[i00 + 1] * tx
    bot = coarse[i00 + gw] * (1 - tx) + coarse[i00 + gw + 1] * tx
    return top * (1 - ty) + bot * ty


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

    # Per-frame parameters first, in a fixed order (determinism).
    max_range = rng.uniform(*cfg.max_range_m)
    graze_start = np.deg2rad(rng.uniform(*cfg.grazing_start_deg))
    dark_thr = rng.uniform(*cfg.dark_signal)
    p_spec = rng.uniform(*cfg.p_specular)
    n_holes = int(rng.poisson(cfg.holes_per_frame))

    z_clean = depth_clean_m
    valid = z_clean > 0

    # -- cosine of the view angle (normal vs. viewing ray) ----------------------------------
    xr = (np.arange(w, dtype=np.float32) - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx)
    yr = (np.arange(h, dtype=np.float32) - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy)
    inv_norm = 1.0 / np.sqrt(xr[None, :] ** 2 + yr[:, None] ** 2 + 1.0)
    n = normals_cam
    # (in place: several times faster than the one-expression form at this size)
    cos_t = n[..., 0] * xr
    cos_t += n[..., 1] * yr[:, None]
    cos_t += n[..., 2]
    np.abs(cos_t, out=cos_t)
    cos_t *= inv_norm
    np.minimum(cos_t, 1.0, out=cos_t)

    # -- edges: lateral jitter and flying pixels (on the few discontinuity pixels only) -----
    z = z_clean.copy()
    edge_idx = np.flatnonzero(_discontinuities(z_clean, valid, cfg.edge_rel_jump))
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
            neigh = np.stack([z_clean[np.maximum(ev - 1, 0), eu],
                              z_clean[np.minimum(ev + 1, h - 1), eu],
                              z_clean[ev, np.maximum(eu - 1, 0)],
                              z_clean[ev, np.minimum(eu + 1, w - 1)]], axis=1)
            own = z[ev, eu]
            diff = np.where(neigh > 0, np.abs(neigh - own[:, None]), -1.0)
            other = neigh[np.arange(ev.size), diff.argmax(axis=1)]
            fly = (rng.random(ev.size) < cfg.p_flying) & (other > 0) & (own > 0)
            alpha = rng.random(ev.size, dtype=np.float32)
            z[ev[fly], eu[fly]] = own[fly] + alpha[fly] * (other[fly] - own[fly])

    # -- axial noise (total sigma from the model, quantisation variance taken out) ----------
    # (in-place arithmetic: this runs on every pixel of every frame)
    sig = z - np.float32(cfg.axial_z0_m)
    sig *= sig
    sig *= np.float32(cfg.axial_b_per_m)
    sig += np.float32(cfg.axial_a_m)
    if cfg.axial_angle_m > 0:
        # theta^2/(pi/2-theta)^2 with pi/2-theta = arcsin(cos_t), from cos_t directly.
        q = np.arcsin(np.maximum(cos_t, np.float32(1e-3)))
        ratio = np.float32(np.pi / 2) - q
        ratio /= q
        ratio *= ratio
        ratio *= np.float32(cfg.axial_angle_m)
        ratio /= np.sqrt(np.maximum(z, np.float32(1e-3)))
        sig += ratio
    if cfg.subpixel_steps > 0:
        # quantisation step^2/12, step = z^2/(f*b*steps)
        q_var = z * z
        q_var *= q_var
        q_var *= np.float32(1.0 / (12.0 * (fb_native * cfg.subpixel_steps) ** 2))
        sig *= sig
        sig -= q_var
        np.maximum(sig, 0.0, out=sig)
        np.sqrt(sig, out=sig)
    z += sig * fast_standard_normal(rng, z.shape)

    if cfg.subpixel_steps > 0:
        # Quantise the disparity d = f*b/z to 1/steps pixel and convert back.
        k = np.float32(fb_native * cfg.subpixel_steps)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.rint(k / z)
            z = k / d

    # -- dropout ------------------------------------------------------------------------------
    # NaN and inf (from k/0 above) fail one of these comparisons, so they are dropped too.
    keep = valid & (z >= cfg.min_range_m) & (z <= max_range)
    if cfg.shadow:
        keep &= ~_projector_shadow(z_clean, intrinsics.fx * cfg.baseline_m, cfg.projector_side)
    cos_start = np.cos(graze_start)
    cos_full = np.cos(np.deg2rad(cfg.grazing_full_deg))
    # Random numbers only for the (usually few) pixels past the start angle.
    cand = np.flatnonzero(cos_t < cos_start)
    p_graze = (np.float32(cos_start) - cos_t.ravel()[cand]) * np.float32(
        1.0 / (cos_start - cos_full))
    keep.ravel()[cand[rng.random(cand.size, dtype=np.float32) < p_graze]] = False

    # Dark and specular dropout share one coherent random field (drawn on every frame, so
    # the generator advances the same way whatever the scene).
    p_coh = None
    if albedo is not None and dark_thr > 0:
        # IR return ~ reflectance * shading / z^2. Visible albedo is a poor proxy for IR
        # reflectance (most dyes and paints reflect near-IR better than visible light), so it
        # is compressed (square root), and the angle enters only weakly because grazing
        # dropout is modelled on its own above.
        zc = np.maximum(z_clean, np.float32(1e-3))
        signal = np.sqrt(np.clip(albedo, 0.0, 1.0)) * (0.5 + 0.5 * cos_t) / (zc * zc)
        p_coh = 1.0 - signal * np.float32(1.0 / dark_thr)
    if specular_mask is not None and p_spec > 0:
        p_s = np.where(specular_mask, np.float32(p_spec), np.float32(0.0))
        p_coh = p_s if p_coh is None else 1.0 - (1.0 - np.clip(p_coh, 0, 1)) * (1.0 - p_s)
    if p_coh is not None:
        at = np.flatnonzero(p_coh > 0)
        field = _coherent_uniform_at(rng, h, w, cfg.blob_px * px_scale, at)
        keep.ravel()[at[field < p_coh.ravel()[at]]] = False

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
            keep[v0:v1, u0:u1] &= yy**2 + xx**2 > edge**2

    return np.where(keep, z, np.float32(0.0)).astype(np.float32, copy=False)
