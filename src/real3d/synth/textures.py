"""Texture bank and base colours for the synthetic RGB-D engine.

The renderer colours a surface point as ``albedo = base_color * texture(uv)``, so the
textures here are *modulation patterns*: linear RGB, mean luminance roughly 0.55-0.75, and
mostly grey (the base colour, drawn by :func:`random_palette_color`, supplies the hue).
Textures that only make sense in colour (tartan, coloured carpet flecks, lined paper) keep
their colours. Every texture tiles: pixel ``S-1`` is a neighbour of pixel ``0`` in both
directions, so renderers may wrap uv coordinates freely.

Two sources are mixed because segmentation networks trained on this data must work on real
photographs: procedural patterns (periodic spectral noise, wood rings, weaves, grout grids,
Voronoi stones) give unlimited variants, and the photographs bundled with scikit-image
(brick, grass, gravel, a scanned page, colour photos) give real image statistics that
procedural noise lacks. The procedural patterns are in ``real3d.synth.patterns``.

Conventions: texel (i, j) of texture ``t`` is ``images[t, j, i]``; ``u`` runs along columns
(``i``), ``v`` along rows (``j``), both in texel units with texel centres at integers.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from PIL import Image

from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.synth.camera_effects import linear_to_srgb
from real3d.synth.patterns import (
    _brick,
    _brushed_metal,
    _carpet,
    _crossfade_tile,
    _dots,
    _fabric,
    _flagstone,
    _hammered_metal,
    _leather,
    _marble,
    _paper,
    _plain,
    _plaster,
    _spectral_noise,
    _stripes,
    _terrazzo,
    _tiles,
    _wood,
)

__all__ = [
    "PALETTE_HINTS",
    "SRGB8_TO_LINEAR",
    "TextureBank",
    "random_palette_color",
    "sample_texture",
    "srgb_to_linear",
]

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear values in [0, 1] (IEC 61966-2-1), float32."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


# linear value of each 8-bit sRGB code (see TextureBank.atlas)
SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256) / 255.0)
SRGB8_TO_LINEAR.setflags(write=False)


# --------------------------------------------------------------------------------------------
# photographs bundled with scikit-image
# --------------------------------------------------------------------------------------------


def _skimage_data_dir() -> str | None:
    try:
        import skimage.data
    except ImportError:
        return None
    return os.path.dirname(skimage.data.__file__)


def _load_photo(name: str) -> np.ndarray | None:
    """A bundled scikit-image photo as float32 sRGB values in [0, 1], (H, W, 3); None if the
    file is not in this installation (some of skimage.data needs a download).

    The file is opened with PIL from skimage.data's folder rather than through the
    skimage.data functions: those import skimage.io's plugin machinery (~0.4 s, a third of
    the bank's build budget) and may try to download.
    """
    root = _skimage_data_dir()
    if root is None:
        return None
    path = os.path.join(root, name)
    if not os.path.isfile(path):
        return None
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except OSError:
        return None
    return arr


def _square(img: np.ndarray, size: int, crop: tuple[float, float, float] = (0.5, 0.5, 1.0)):
    """Square crop (centre fractions cx, cy; side as a fraction of the short side) resized to
    size x size with a Lanczos filter."""
    h, w = img.shape[:2]
    side = max(8, int(min(h, w) * crop[2]))
    x0 = int(np.clip(crop[0] * w - side / 2, 0, w - side))
    y0 = int(np.clip(crop[1] * h - side / 2, 0, h - side))
    sub = img[y0 : y0 + side, x0 : x0 + side]
    pil = Image.fromarray(np.clip(sub * 255 + 0.5, 0, 255).astype(np.uint8))
    pil = pil.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(pil, dtype=np.float32) / 255.0


# Grey photographic textures: (kind, file, crop, quarter turns). Different crops are
# different scales; the brick photo shows vertical courses, so one copy is turned.
_PHOTO_TEXTURES = (
    ("brick", "brick.png", (0.5, 0.5, 1.0), 1),
    ("brick", "brick.png", (0.3, 0.3, 0.5), 0),
    ("stone", "gravel.png", (0.5, 0.5, 1.0), 0),
    ("stone", "gravel.png", (0.7, 0.6, 0.4), 1),
    ("grass", "grass.png", (0.5, 0.5, 1.0), 0),
    ("grass", "grass.png", (0.3, 0.7, 0.5), 1),
    ("paper", "page.png", (0.5, 0.5, 1.0), 0),
    ("paper", "text.png", (0.5, 0.5, 1.0), 0),
)

# Photos for pictures, TV screens and window views: (file, crop).
_PHOTOS = (
    ("astronaut.png", (0.5, 0.5, 1.0)),
    ("coffee.png", (0.5, 0.5, 1.0)),
    ("chelsea.png", (0.5, 0.5, 1.0)),
    ("rocket.jpg", (0.5, 0.5, 1.0)),
    ("rocket.jpg", (0.75, 0.4, 0.6)),
    ("hubble_deep_field.jpg", (0.5, 0.5, 1.0)),
    ("hubble_deep_field.jpg", (0.3, 0.7, 0.4)),
    ("ihc.png", (0.5, 0.5, 1.0)),
    ("retina.jpg", (0.5, 0.5, 0.7)),
    ("motorcycle_left.png", (0.5, 0.5, 1.0)),
    ("color.png", (0.5, 0.5, 1.0)),
    ("camera.png", (0.5, 0.5, 1.0)),
    ("moon.png", (0.5, 0.5, 1.0)),
    ("coins.png", (0.5, 0.5, 1.0)),
    ("grass.png", (0.5, 0.5, 1.0)),
    ("gravel.png", (0.5, 0.5, 1.0)),
)


def _sky_view(rng, size):
    """A window view: sky gradient with clouds over a band of land or buildings."""
    y = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    top = np.array([0.25, 0.45, 0.9]) * rng.uniform(0.6, 1.2)
    horizon_col = np.array([0.75, 0.85, 1.0]) * rng.uniform(0.8, 1.2)
    sky = top + (horizon_col - top) * y
    clouds = np.clip(_spectral_noise(rng, size, beta=1.6, stretch=2.0) - 0.3, 0, None)
    sky = sky + 0.5 * clouds[..., None]
    x = np.arange(size)
    ground_line = size * rng.uniform(0.55, 0.85) + 0.08 * size * np.cumsum(rng.standard_normal(size)) / np.sqrt(size)
    if rng.random() < 0.5:  # blocky skyline instead of hills
        widths = np.cumsum(rng.integers(size // 16, size // 5, size=32))
        heights = size * rng.uniform(0.3, 0.8, size=32)
        ground_line = heights[np.searchsorted(widths, x) % 32]
    land = np.arange(size)[:, None] > ground_line[None, :]
    land_col = rng.uniform(0.05, 0.35, 3) * (1 + 0.2 * _spectral_noise(rng, size)[..., None])
    return np.where(land[..., None], land_col, sky).clip(0, 1).astype(np.float32)


def _abstract_painting(rng, size):
    """Colour-field painting: a few overlapping soft rectangles on a ground colour."""
    img = np.ones((size, size, 3), np.float32) * rng.random(3).astype(np.float32)
    ax = np.arange(size, dtype=np.float32)
    for _ in range(int(rng.integers(2, 6))):
        x0, x1 = np.sort(rng.random(2)) * size
        y0, y1 = np.sort(rng.random(2)) * size
        mx = np.clip(np.minimum(ax - x0, x1 - ax) / 4, 0, 1)[None, :]
        my = np.clip(np.minimum(ax - y0, y1 - ax) / 4, 0, 1)[:, None]
        m = (mx * my)[..., None]
        img = img * (1 - m) + rng.random(3).astype(np.float32) * m
    brush = 1 + 0.05 * _spectral_noise(rng, size, beta=0.8, stretch=3.0)
    return np.clip(img * brush[..., None], 0, 1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# the bank
# --------------------------------------------------------------------------------------------


def _recipes(rng: np.random.Generator) -> list[tuple[str, Callable, dict]]:
    """(kind, builder, kwargs) for every procedural texture; parameters drawn once here so
    they depend only on the bank seed."""

    def palette(n):
        return rng.uniform(0.25, 1.0, size=(n, 3)).astype(np.float32)

    r = []
    for rings, planks, vert in ((6, 2, False), (10, 4, False), (14, 6, True), (8, 3, True), (20, 8, False)):
        r.append(("wood", _wood, dict(rings=rings, planks=planks, vertical=vert, warp=float(rng.uniform(0.8, 2.5)))))
    for threads, weave in ((48, "plain"), (96, "plain"), (64, "twill"), (128, "twill"), (64, "basket")):
        r.append(("fabric", _fabric, dict(threads=threads, weave=weave)))
    for threads in (64, 96):
        r.append(("fabric", _fabric, dict(threads=threads, weave="twill", colours=palette(int(rng.integers(2, 5))))))
    for n, grout, bond, checker, light in (
        (4, 0.03, False, False, False),
        (8, 0.04, False, False, True),
        (2, 0.02, False, False, False),
        (4, 0.03, True, False, False),
        (8, 0.03, False, True, False),
    ):
        r.append(("tiles", _tiles, dict(n=n, grout=grout, bond=bond, checker=checker, grout_light=light)))
    for rows, per_row in ((8, 4), (16, 8), (6, 2)):
        r.append(("brick", _brick, dict(rows=rows, per_row=per_row, mortar=float(rng.uniform(0.05, 0.12)))))
    r.append(("carpet", _carpet, {}))
    r.append(("carpet", _carpet, dict(loops=32)))
    r.append(("carpet", _carpet, dict(fleck_colours=palette(3))))
    r.append(("carpet", _carpet, dict(loops=64)))
    for amount, stucco in ((0.03, 0.0), (0.08, 0.0), (0.04, 0.4), (0.05, 0.8)):
        r.append(("plaster", _plaster, dict(amount=amount, stucco=stucco)))
    r.append(("stone", _marble, dict(veins=2)))
    r.append(("stone", _marble, dict(veins=5)))
    r.append(("stone", _flagstone, dict(n_cells=16)))
    r.append(("stone", _flagstone, dict(n_cells=40)))
    r.append(("stone", _terrazzo, dict(n_cells=500)))
    r.append(("stone", _terrazzo, dict(n_cells=250, chip_colours=palette(4))))
    r.append(("metal", _brushed_metal, dict(vertical=False)))
    r.append(("metal", _brushed_metal, dict(vertical=True)))
    r.append(("metal", _hammered_metal, dict(n_cells=40)))
    r.append(("metal", _hammered_metal, dict(n_cells=120)))
    r.append(("paper", _paper, {}))
    r.append(("paper", _paper, dict(lines=16)))
    r.append(("leather", _leather, dict(n_cells=200)))
    r.append(("leather", _leather, dict(n_cells=600)))
    r.append(("leather", _leather, dict(n_cells=1200)))
    for amount in (0.005, 0.01, 0.02, 0.03):
        r.append(("plain", _plain, dict(amount=amount)))
    r.append(("pattern", _stripes, dict(n=8)))
    r.append(("pattern", _stripes, dict(n=16, colours=palette(2))))
    r.append(("pattern", _dots, dict(n=8)))
    r.append(("pattern", _dots, dict(n=16)))
    return r


def _normalise(tex: np.ndarray, target_luma: float, max_rel_std: float = 0.3) -> np.ndarray:
    """Scale a positive pattern so its mean linear luminance is ``target_luma``, limit its
    contrast, clip to [0, 1].

    The contrast cap (std of luminance relative to its mean) matters most for photographs:
    linearising an sRGB photo stretches its shadows, and a modulation pattern that is black
    in places would make every base colour look like the same dark texture.
    """
    tex = np.clip(tex, 0.0, None)
    luma = tex @ _LUMA
    mean = float(luma.mean())
    if mean > 0:
        rel = float(luma.std()) / mean
        if rel > max_rel_std:
            tex = mean + (tex - mean) * (max_rel_std / rel)
        tex = tex * (target_luma / mean)
    return np.clip(tex, 0.0, 1.0).astype(np.float32)


class TextureBank:
    """A fixed set of tileable modulation textures plus photographs, built once per process.

    Args:
        seed: seeds every procedural texture; the same seed gives the same bytes.
        size: texture side in texels (>= 16); photos have the same side.

    Attributes:
        images: (T, S, S, 3) float32 linear RGB in [0, 1], tileable, mean luminance about
            0.55-0.75 (multiply by a base colour to get an albedo).
        kinds: length-T tuple, the material family of each texture.
        photos: (P, S, S, 3) float32 linear RGB in [0, 1], not tileable: pictures, TV screens
            and window views (bundled scikit-image photos plus procedural skies and paintings).
        photo_names: length-P tuple naming the source of each photo.
    """

    def __init__(self, seed: int = 0, size: int = 256) -> None:
        if int(size) != size or size < 16:
            raise ConfigError(f"TextureBank: expected an integer size >= 16, got {size!r}")
        size = int(size)
        self.seed = int(seed)
        self.size = size
        root = np.random.SeedSequence(self.seed)
        recipe_rng = np.random.default_rng(root.spawn(1)[0])
        recipes = _recipes(recipe_rng)
        # One child stream per texture: adding a texture later does not reshuffle the others.
        children = root.spawn(len(recipes) + len(_PHOTO_TEXTURES) + 16)
        images, kinds = [], []
        for k, (kind, fn, kwargs) in enumerate(recipes):
            rng = np.random.default_rng(children[k])
            # The roll moves grout lines and plank seams off the tile border, so the border
            # is an ordinary place of the pattern (size // 20 + 1 is never a multiple of a
            # tile or plank period).
            tex = np.roll(fn(rng, size, **kwargs), size // 20 + 1, axis=(0, 1))
            images.append(_normalise(tex, rng.uniform(0.55, 0.75)))
            kinds.append(kind)
        loaded: dict[str, np.ndarray | None] = {}  # files used twice are decoded once

        def load(name):
            if name not in loaded:
                loaded[name] = _load_photo(name)
            return loaded[name]

        off = len(recipes)
        for k, (kind, name, crop, turns) in enumerate(_PHOTO_TEXTURES):
            photo = load(name)
            if photo is None:
                continue
            rng = np.random.default_rng(children[off + k])
            lin = srgb_to_linear(_square(photo, size, crop))
            lin = _crossfade_tile(np.rot90(lin.mean(axis=2, keepdims=True), turns))
            tex = np.repeat(lin, 3, axis=2)
            images.append(_normalise(tex, rng.uniform(0.55, 0.75), max_rel_std=0.25))
            kinds.append(kind)
        self.images = np.ascontiguousarray(np.stack(images), dtype=np.float32)
        self.kinds = tuple(kinds)
        self._ids = {k: np.flatnonzero(np.array(kinds) == k) for k in dict.fromkeys(kinds)}

        photos, names = [], []
        for name, crop in _PHOTOS:
            img = load(name)
            if img is not None:
                photos.append(srgb_to_linear(_square(img, size, crop)))
                names.append(name)
        off += len(_PHOTO_TEXTURES)
        for k in range(8):
            rng = np.random.default_rng(children[off + k])
            if k % 2 == 0:
                photos.append(srgb_to_linear(_sky_view(rng, size)))
                names.append("procedural:window_view")
            else:
                photos.append(srgb_to_linear(_abstract_painting(rng, size)))
                names.append("procedural:painting")
        self.photos = np.ascontiguousarray(np.stack(photos), dtype=np.float32)
        self.photo_names = tuple(names)
        self._atlas: np.ndarray | None = None

    def atlas(self) -> np.ndarray:
        """Textures and photos in one 8-bit sRGB array, so one gather serves every pixel of a
        render; ``SRGB8_TO_LINEAR[code]`` gives the linear value back.

        8 bits in sRGB is the precision of the photographs the bank is made from and of the
        rendered images, and a quarter of the memory of float32: lookups scattered over the
        bank stay in the processor's caches (texturing a frame costs about half as much).

        Returns:
            (T + P, S, S, 3) uint8, C-contiguous, read-only: slot t < T is ``images[t]``,
            slot T + p is ``photos[p]``. Built on first use and kept (renderers of every
            scene share it).
        """
        if self._atlas is None:
            # encoded through a table over 16-bit linear steps: 50x faster than evaluating the
            # sRGB curve on every value, and the same code except for values within one such
            # step of a code boundary (one code off there)
            code_of = np.rint(linear_to_srgb(np.arange(65536) / 65535.0) * 255.0).astype(np.uint8)
            atlas = np.empty((len(self.images) + len(self.photos),) + self.images.shape[1:], dtype=np.uint8)
            for i, img in enumerate(list(self.images) + list(self.photos)):
                steps = np.clip(img, 0.0, 1.0) * np.float32(65535.0) + np.float32(0.5)
                atlas[i] = code_of.take(steps.astype(np.uint16))
            atlas.setflags(write=False)
            self._atlas = atlas
        return self._atlas

    @property
    def kind_names(self) -> tuple[str, ...]:
        """The distinct kinds, in first-appearance order."""
        return tuple(self._ids)

    def ids(self, kind: str) -> np.ndarray:
        """Indices into ``images`` of every texture of ``kind``: (n,) int64, n >= 1.

        Raises:
            ConfigError: unknown kind (the message lists the valid ones).
        """
        if kind not in self._ids:
            raise ConfigError(f"TextureBank.ids: unknown kind {kind!r}; valid kinds: {', '.join(self._ids)}")
        return self._ids[kind].copy()

    def __len__(self) -> int:
        return len(self.kinds)


def sample_texture(
    bank_images: np.ndarray,
    tex_ids: np.ndarray,
    uv: np.ndarray,
    bilinear: bool = False,
) -> np.ndarray:
    """Look up texels with wrap-around.

    Args:
        bank_images: (T, S, S, 3) float32, C-contiguous (``TextureBank.images``).
        tex_ids: (N,) integer texture index per sample, in [0, T).
        uv: (N, 2) float texel coordinates (u along columns, v along rows; texel centres at
            integers); any real value, wrapped modulo S.
        bilinear: interpolate the four nearest texels instead of taking the nearest one.

    Returns:
        (N, 3) float32.
    """
    imgs = bank_images
    if not (isinstance(imgs, np.ndarray) and imgs.ndim == 4 and imgs.shape[3] == 3 and imgs.shape[1] == imgs.shape[2]):
        raise InputError(f"sample_texture: expected bank_images (T, S, S, 3), got {describe_array(imgs)}")
    tex_ids = np.asarray(tex_ids)
    uv = np.asarray(uv)
    if tex_ids.ndim != 1 or uv.shape != (tex_ids.shape[0], 2):
        raise InputError(
            f"sample_texture: expected tex_ids (N,) and uv (N, 2), got "
            f"{describe_array(tex_ids)} and {describe_array(uv)}"
        )
    if not np.issubdtype(tex_ids.dtype, np.integer):
        raise InputError(f"sample_texture: expected integer tex_ids, got {tex_ids.dtype}")
    n_tex, size = imgs.shape[0], imgs.shape[1]
    if tex_ids.size and (tex_ids.min() < 0 or tex_ids.max() >= n_tex):
        raise InputError(f"sample_texture: tex_ids must lie in [0, {n_tex}), got [{tex_ids.min()}, {tex_ids.max()}]")
    flat = imgs.reshape(-1, 3)
    # int32 index arithmetic is enough (T*S*S < 2**31 for any sensible bank) and halves the
    # memory traffic of int64.
    base = tex_ids.astype(np.int32) * np.int32(size * size)
    pow2 = size & (size - 1) == 0

    def wrap(i):
        if pow2:
            i &= size - 1  # two's complement makes this a correct modulo for negatives too
        else:
            i %= size
        return i

    if not bilinear:
        q = np.floor(uv + 0.5).astype(np.int32)
        iu, iv = wrap(q[:, 0]), wrap(q[:, 1])
        return np.take(flat, base + iv * np.int32(size) + iu, axis=0)

    fl = np.floor(uv)
    frac = (uv - fl).astype(np.float32)
    q = fl.astype(np.int32)
    u0, v0 = wrap(q[:, 0].copy()), wrap(q[:, 1].copy())
    u1, v1 = wrap(q[:, 0] + 1), wrap(q[:, 1] + 1)
    row0, row1 = base + v0 * np.int32(size), base + v1 * np.int32(size)
    fu, fv = frac[:, :1], frac[:, 1:]
    top = np.take(flat, row0 + u0, axis=0) * (1 - fu) + np.take(flat, row0 + u1, axis=0) * fu
    bot = np.take(flat, row1 + u0, axis=0) * (1 - fu) + np.take(flat, row1 + u1, axis=0) * fu
    return (top * (1 - fv) + bot * fv).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# base colours
# --------------------------------------------------------------------------------------------

# Per family: list of (weight, hue range deg, saturation range, value range) in sRGB HSV.
# Hue ranges may wrap past 360. Chosen by eye against indoor photographs, then widened:
# the aim is plausible *and* varied, so every family keeps a small share of any colour.
_ANY = (0.06, (0, 360), (0.0, 1.0), (0.1, 1.0))
_PALETTES: dict[str, list[tuple[float, tuple, tuple, tuple]]] = {
    "wood": [
        (0.7, (18, 42), (0.35, 0.8), (0.2, 0.8)),
        (0.12, (25, 45), (0.15, 0.4), (0.6, 0.95)),
        (0.12, (0, 360), (0.0, 0.1), (0.05, 0.97)),
        _ANY,
    ],
    "fabric": [(0.6, (0, 360), (0.1, 0.85), (0.15, 0.9)), (0.34, (0, 360), (0.0, 0.15), (0.1, 0.95)), _ANY],
    "leather": [
        (0.6, (5, 35), (0.4, 0.85), (0.1, 0.6)),
        (0.25, (0, 360), (0.0, 0.1), (0.03, 0.3)),
        (0.09, (345, 370), (0.5, 0.9), (0.2, 0.55)),
        _ANY,
    ],
    "carpet": [(0.55, (0, 360), (0.05, 0.5), (0.2, 0.75)), (0.39, (15, 45), (0.1, 0.45), (0.3, 0.8)), _ANY],
    "plaster": [
        (0.7, (0, 360), (0.0, 0.12), (0.75, 0.98)),
        (0.2, (0, 360), (0.1, 0.4), (0.6, 0.95)),
        (0.04, (0, 360), (0.3, 0.8), (0.3, 0.8)),
        _ANY,
    ],
    "tiles": [
        (0.5, (0, 360), (0.0, 0.1), (0.6, 0.97)),
        (0.2, (25, 45), (0.1, 0.35), (0.5, 0.9)),
        (0.24, (150, 240), (0.2, 0.6), (0.3, 0.85)),
        _ANY,
    ],
    "brick": [
        (0.7, (0, 25), (0.45, 0.8), (0.3, 0.7)),
        (0.15, (20, 40), (0.2, 0.5), (0.5, 0.85)),
        (0.09, (0, 360), (0.0, 0.08), (0.8, 0.97)),
        _ANY,
    ],
    "stone": [(0.6, (0, 360), (0.0, 0.12), (0.3, 0.9)), (0.34, (25, 50), (0.1, 0.35), (0.4, 0.9)), _ANY],
    "metal": [
        (0.75, (0, 360), (0.0, 0.06), (0.35, 0.95)),
        (0.1, (35, 50), (0.4, 0.7), (0.5, 0.9)),
        (0.09, (15, 30), (0.4, 0.7), (0.4, 0.8)),
        _ANY,
    ],
    "paper": [(0.8, (30, 60), (0.0, 0.1), (0.85, 1.0)), (0.14, (0, 360), (0.1, 0.5), (0.6, 1.0)), _ANY],
    "plastic": [(0.5, (0, 360), (0.3, 0.95), (0.3, 1.0)), (0.44, (0, 360), (0.0, 0.08), (0.05, 0.97)), _ANY],
    "grass": [(0.9, (70, 130), (0.3, 0.8), (0.2, 0.7)), (0.1, (40, 70), (0.3, 0.7), (0.3, 0.7))],
    "any": [(1.0, (0, 360), (0.0, 1.0), (0.05, 1.0))],
}
_PALETTES["wall"] = _PALETTES["plaster"]
_PALETTES["ceiling"] = [(0.9, (0, 360), (0.0, 0.06), (0.85, 1.0)), (0.1, (0, 360), (0.05, 0.3), (0.6, 0.95))]
_PALETTES["plain"] = _PALETTES["plastic"]
_PALETTES["pattern"] = _PALETTES["fabric"]

PALETTE_HINTS: tuple[str, ...] = tuple(sorted(_PALETTES))


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    h = (h % 360.0) / 60.0
    i = int(h) % 6
    f = h - int(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def random_palette_color(rng: np.random.Generator, kind_hint: str = "any") -> np.ndarray:
    """A random, plausible base colour for a material family.

    Args:
        rng: the only source of randomness.
        kind_hint: a texture kind (``TextureBank.kinds``) or one of ``wall``, ``ceiling``,
            ``plastic``, ``any``; see ``PALETTE_HINTS``.

    Returns:
        (3,) float32 linear RGB albedo in [0, 1].

    Raises:
        ConfigError: unknown kind_hint (the message lists the valid ones).
    """
    comps = _PALETTES.get(kind_hint)
    if comps is None:
        raise ConfigError(f"random_palette_color: unknown kind_hint {kind_hint!r}; valid: {', '.join(PALETTE_HINTS)}")
    w = np.array([c[0] for c in comps], dtype=np.float64)
    _, hr, sr, vr = comps[int(rng.choice(len(comps), p=w / w.sum()))]
    srgb = _hsv_to_rgb(rng.uniform(*hr), rng.uniform(*sr), rng.uniform(*vr))
    return srgb_to_linear(np.clip(srgb, 0.0, 1.0))
