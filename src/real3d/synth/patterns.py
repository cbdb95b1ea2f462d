"""Procedural, exactly periodic texture patterns for the texture bank.

Periodic building blocks (spectral noise, Voronoi cells, embossing, periodic blur,
cross-faded tiling) and the pattern generators built on them (wood, weaves, tiles, brick,
carpet, plaster, stone, metal, paper, leather, stripes, dots). Every generator takes a
``numpy.random.Generator`` and a side in texels and returns an (S, S, 3) float32 linear-RGB
field in [0, 1] that tiles in both directions; ``real3d.synth.textures`` mixes them with
photographs into the bank.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


# --------------------------------------------------------------------------------------------
# periodic building blocks (every one of them returns an exactly periodic field)
# --------------------------------------------------------------------------------------------


def _freq_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer frequencies (cycles per tile) of an rfft2 spectrum: fy (S, 1), fx (1, S//2+1)."""
    fy = np.fft.fftfreq(size, d=1.0 / size)[:, None]
    fx = np.fft.rfftfreq(size, d=1.0 / size)[None, :]
    return fy, fx


def _spectral_noise(
    rng: np.random.Generator,
    size: int,
    beta: float = 1.0,
    stretch: float = 1.0,
    angle: float = 0.0,
    f_lo: float = 1.0,
    f_hi: float | None = None,
) -> np.ndarray:
    """Zero-mean, unit-std periodic noise with a power-law spectrum.

    Shaping white noise in the Fourier domain of the tile makes the result periodic by
    construction (no seams to hide). ``beta`` is the amplitude exponent (1 ~ natural
    images, 2 ~ smooth). ``stretch > 1`` damps frequencies along ``angle`` so features are
    elongated along that direction (wood grain, brushed metal). ``f_lo``/``f_hi`` limit the
    band in cycles per tile.
    """
    fy, fx = _freq_grid(size)
    c, s = np.cos(angle), np.sin(angle)
    along = fx * c + fy * s
    across = -fx * s + fy * c
    r = np.sqrt((along * stretch) ** 2 + across**2)
    amp = np.where(r >= f_lo, np.maximum(r, 1e-6) ** (-beta), 0.0)
    if f_hi is not None:
        amp = amp * np.exp(-((r / f_hi) ** 2))
    spec = np.fft.rfft2(rng.standard_normal((size, size))) * amp
    out = np.fft.irfft2(spec, s=(size, size))
    out -= out.mean()
    std = out.std()
    return (out / std if std > 0 else out).astype(np.float32)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates x (1, S) and y (S, 1) as float32."""
    ax = np.arange(size, dtype=np.float32)
    return ax[None, :], ax[:, None]


def _voronoi(rng: np.random.Generator, size: int, n_cells: int) -> tuple[np.ndarray, ...]:
    """Periodic Voronoi diagram: (F1, F2 distances in pixels, nearest cell id), each (S, S).

    ``cKDTree(boxsize=...)`` measures distances on the torus, which is what makes the cells
    tile.
    """
    pts = rng.random((n_cells, 2)) * size
    tree = cKDTree(pts, boxsize=size)
    ys, xs = np.mgrid[0:size, 0:size]
    q = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64) + 0.5
    q %= size
    d, i = tree.query(q, k=2)
    return (d[:, 0].reshape(size, size), d[:, 1].reshape(size, size), i[:, 0].reshape(size, size))


def _emboss(height: np.ndarray, strength: float) -> np.ndarray:
    """Lambert-like shading of a periodic height field lit from the upper left."""
    gx = np.roll(height, -1, 1) - np.roll(height, 1, 1)
    gy = np.roll(height, -1, 0) - np.roll(height, 1, 0)
    return 1.0 + strength * (-(gx + gy) * 0.5)


def _blur_periodic(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with wrap-around, done in the Fourier domain (keeps tiling)."""
    size = x.shape[0]
    fy, fx = _freq_grid(size)
    g = np.exp(-2.0 * (np.pi * sigma / size) ** 2 * (fx**2 + fy**2))
    if x.ndim == 2:
        return np.fft.irfft2(np.fft.rfft2(x) * g, s=x.shape).astype(np.float32)
    out = np.fft.irfft2(np.fft.rfft2(x, axes=(0, 1)) * g[..., None], s=x.shape[:2], axes=(0, 1))
    return out.astype(np.float32)


def _grey(x: np.ndarray) -> np.ndarray:
    return np.repeat(x[..., None], 3, axis=2).astype(np.float32)


def _warm_tint(g: np.ndarray, amount: float) -> np.ndarray:
    """Grey -> RGB where darker parts are slightly warmer (pigment concentration in wood,
    leather): a per-channel power keeps 1 at 1 and shifts darks towards red."""
    g = np.clip(g, 1e-4, None)
    return np.stack([g ** (1 - amount), g, g ** (1 + amount)], axis=-1).astype(np.float32)


def _crossfade_tile(img: np.ndarray) -> np.ndarray:
    """Make a (S, S, C) image tileable by blending it with its half-period rolls.

    Each of the four copies (original, rolled in x, y, both) has its seams where its weight
    is zero, so the blend is continuous everywhere including across the wrap. Dividing the
    deviation from the mean by the root of the summed squared weights keeps the contrast
    from dropping in the blend zones.
    """
    size = img.shape[0]
    h = size // 2
    t = (np.arange(size, dtype=np.float64) + 0.5) / size
    w = np.sin(np.pi * t) ** 2  # 0 at the tile border, 1 in the middle
    wy, wx = w[:, None, None], w[None, :, None]
    mean = img.mean(axis=(0, 1), keepdims=True)
    dev = img - mean
    parts = (
        (wy * wx, dev),
        (wy * (1 - wx), np.roll(dev, h, axis=1)),
        ((1 - wy) * wx, np.roll(dev, h, axis=0)),
        ((1 - wy) * (1 - wx), np.roll(dev, (h, h), axis=(0, 1))),
    )
    acc = sum(wt * d for wt, d in parts)
    norm = np.sqrt(sum(wt**2 for wt, _ in parts))
    return (mean + acc / norm).astype(np.float32)


# --------------------------------------------------------------------------------------------
# procedural texture families; each returns an (S, S, 3) float32 pattern of any positive scale
# --------------------------------------------------------------------------------------------


def _wood(rng, size, rings=10, planks=4, warp=1.5, vertical=False):
    x, y = _grid(size)
    # Rings run along x; warp noise elongated along x bends them like real grain.
    warp_field = _spectral_noise(rng, size, beta=2.0, stretch=6.0, f_lo=1.0)
    plank = np.floor(y * planks / size).astype(np.int64)  # (S, 1)
    offsets = rng.random(planks)[plank]
    t = rings * (y / size) * planks + warp * warp_field + 7.3 * offsets
    ring = t - np.floor(t)
    late = ring ** rng.uniform(3.0, 8.0)  # thin dark latewood at the end of each ring
    fibres = _spectral_noise(rng, size, beta=0.6, stretch=12.0, f_lo=2.0)
    g = (1.0 - 0.2 * ring) * (1.0 - 0.45 * late) + 0.06 * fibres
    g *= (1.0 + 0.12 * (rng.random(planks) - 0.5))[plank]  # planks differ in tone
    # Seams between planks and one butt joint per plank (anywhere: the tile stays periodic).
    seam_y = plank != np.floor(((y - 1) % size) * planks / size).astype(np.int64)
    g = np.where(seam_y, g * 0.55, g)
    joints = (rng.random(planks) * size).astype(np.int64)[plank]
    g = np.where(np.abs(x - joints) < 0.5 + size / 512, g * 0.6, g)
    out = _warm_tint(g, 0.35)
    return np.ascontiguousarray(out.transpose(1, 0, 2)) if vertical else out


def _weave_profile(f):
    # Rounded thread cross-section: bright in the middle, dark in the gaps.
    return np.sin(np.pi * f) ** 0.6


def _fabric(rng, size, threads=64, weave="plain", colours=None):
    x, y = _grid(size)
    fx = x * threads / size
    fy = y * threads / size
    ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    if weave == "plain":
        over = (ix + iy) % 2 == 0
    elif weave == "twill":
        over = (ix + iy) % 4 < 2
    else:  # basket weave: pairs of threads
        over = ((ix // 2) + (iy // 2)) % 2 == 0
    warp_shade = _weave_profile(fx - ix)
    weft_shade = _weave_profile(fy - iy)
    shade = np.where(over, warp_shade, weft_shade)
    fuzz = _spectral_noise(rng, size, beta=0.3, f_lo=4.0)
    mottle = _spectral_noise(rng, size, beta=1.5, f_lo=1.0)
    g = (0.75 + 0.25 * shade) * (1.0 + 0.05 * fuzz + 0.05 * mottle)
    if colours is None:
        return _grey(g)
    # Tartan: a stripe sequence of colours along each thread direction.
    stripe = _stripe_sequence(rng, threads, colours)
    col_x = colours[stripe[np.minimum(ix, threads - 1)]][0]  # (S, 3) by column
    col_y = colours[stripe[np.minimum(iy, threads - 1)]][:, 0]  # (S, 3) by row
    col = np.where(over[..., None], col_x[None, :, :], col_y[:, None, :])
    return (col * g[..., None]).astype(np.float32)


def _stripe_sequence(rng, threads, colours):
    ids = []
    while len(ids) < threads:
        ids += [int(rng.integers(len(colours)))] * int(rng.integers(2, max(3, threads // 6)))
    return np.array(ids[:threads])


def _tiles(rng, size, n=4, grout=0.02, bond=False, checker=False, grout_light=False):
    x, y = _grid(size)
    cell = size / n
    row = np.floor(y / cell).astype(np.int64)
    shift = np.where(row % 2 == 1, cell / 2, 0.0) if bond else 0.0
    xs = (x + shift) % size
    col = np.floor(xs / cell).astype(np.int64)
    fx, fy = (xs / cell) % 1.0, (y / cell) % 1.0
    edge = np.minimum(np.minimum(fx, 1 - fx), np.minimum(fy, 1 - fy))
    tile_id = (row * n + col) % (n * n)
    tone = 1.0 + 0.08 * (rng.random(n * n) - 0.5)
    g = tone[tile_id]
    if checker:
        g = g * np.where((row + col) % 2 == 0, 1.0, rng.uniform(0.15, 0.4))
    g = g * (1.0 + 0.03 * _spectral_noise(rng, size, beta=1.0))
    bevel = np.clip(edge / (grout + 0.02), 0, 1) ** 0.5  # rounded tile edge darkens
    g = g * (0.85 + 0.15 * bevel)
    grout_val = rng.uniform(1.0, 1.2) if grout_light else rng.uniform(0.35, 0.6)
    g = np.where(edge < grout / 2, grout_val * (1 + 0.05 * _spectral_noise(rng, size)), g)
    return _grey(g)


def _brick(rng, size, rows=8, per_row=4, mortar=0.06):
    x, y = _grid(size)
    bh = size / rows
    bw = size / per_row
    row = np.floor(y / bh).astype(np.int64)
    xs = (x + np.where(row % 2 == 1, bw / 2, 0.0)) % size
    col = np.floor(xs / bw).astype(np.int64)
    fx, fy = (xs / bw) % 1.0, (y / bh) % 1.0
    edge = np.minimum(np.minimum(fx, 1 - fx) * bw, np.minimum(fy, 1 - fy) * bh)
    bid = (row * per_row + col) % (rows * per_row)
    # Bricks differ mostly in lightness, a little in warmth (more or less fired clay).
    n_b = rows * per_row
    tone = 1.0 + 0.3 * (rng.random(n_b) - 0.5)
    warm = 0.12 * (rng.random(n_b) - 0.5)
    tint = tone[:, None] * np.stack([1 + warm, np.ones(n_b), 1 - warm], axis=1)
    grain = _spectral_noise(rng, size, beta=0.8, f_lo=2.0)
    col_rgb = tint[bid] * (1.0 + 0.1 * grain)[..., None]
    mortar_px = mortar * bh
    is_mortar = edge < mortar_px / 2
    mortar_rgb = rng.uniform(1.1, 1.4) * (1 + 0.05 * grain)[..., None]
    return np.where(is_mortar[..., None], mortar_rgb, col_rgb).astype(np.float32)


def _carpet(rng, size, fleck_colours=None, loops=0):
    speckle = _blur_periodic(rng.standard_normal((size, size)).astype(np.float32), 0.7)
    speckle /= speckle.std()
    mottle = _spectral_noise(rng, size, beta=1.2, f_lo=1.0)
    g = 1.0 + 0.12 * speckle + 0.06 * mottle
    if loops:
        x, y = _grid(size)
        g = g * (0.9 + 0.1 * np.sin(2 * np.pi * loops * x / size) ** 2 * np.sin(2 * np.pi * loops * y / size) ** 2)
    out = _grey(g)
    if fleck_colours is not None:
        flecks = _blur_periodic(rng.random((size, size)).astype(np.float32), 0.6)
        pick = rng.integers(len(fleck_colours), size=(size, size))
        mask = flecks > np.quantile(flecks, 0.8)
        out = np.where(mask[..., None], fleck_colours[pick] * g[..., None], out)
    return out.astype(np.float32)


def _plaster(rng, size, amount=0.05, stucco=0.0):
    g = 1.0 + amount * _spectral_noise(rng, size, beta=1.6, f_lo=1.0)
    if stucco > 0:
        h = _spectral_noise(rng, size, beta=1.2, f_lo=6.0)
        h = _blur_periodic(np.clip(h - 0.5, 0, None), 1.0)  # isolated trowelled bumps
        g = g * np.clip(_emboss(h, stucco), 0.6, 1.3)
    return _grey(g)


def _marble(rng, size, veins=3):
    x, y = _grid(size)
    warp = _spectral_noise(rng, size, beta=1.4, f_lo=1.0)
    t = np.sin(2 * np.pi * (veins * (x + y) / size + 0.6 * warp))
    v = 1.0 - 0.45 * (1 - np.abs(t)) ** 12
    return _grey(v * (1 + 0.04 * _spectral_noise(rng, size, beta=1.0)))


def _flagstone(rng, size, n_cells=24, grout=0.06):
    f1, f2, cid = _voronoi(rng, size, n_cells)
    tone = 1.0 + 0.3 * (rng.random(n_cells) - 0.5)
    g = tone[cid] * (1 + 0.08 * _spectral_noise(rng, size, beta=0.9, f_lo=2.0))
    crack = (f2 - f1) < grout * size / np.sqrt(n_cells)
    g = np.where(crack, 0.45, g)
    return _grey(g)


def _terrazzo(rng, size, n_cells=400, chip_colours=None):
    f1, f2, cid = _voronoi(rng, size, n_cells)
    chip = (f2 - f1) > 0.35 * size / np.sqrt(n_cells)
    tones = (
        0.6 + 0.8 * rng.random((n_cells, 3))
        if chip_colours is None
        else chip_colours[rng.integers(len(chip_colours), size=n_cells)]
    )
    if chip_colours is None:
        tones[:] = tones.mean(axis=1, keepdims=True)
    base = np.ones((size, size, 3)) * (1 + 0.04 * _spectral_noise(rng, size))[..., None]
    return np.where(chip[..., None], tones[cid], base).astype(np.float32)


def _brushed_metal(rng, size, vertical=False):
    lines = _spectral_noise(rng, size, beta=0.4, stretch=40.0, f_lo=1.0, angle=np.pi / 2 if vertical else 0.0)
    broad = _spectral_noise(rng, size, beta=1.8, f_lo=1.0)
    return _grey(1.0 + 0.08 * lines + 0.05 * broad)


def _hammered_metal(rng, size, n_cells=60):
    f1, _, _ = _voronoi(rng, size, n_cells)
    dent = (f1 / (size / np.sqrt(n_cells))) ** 2
    return _grey(_emboss(dent, 0.6) * (1 + 0.03 * _spectral_noise(rng, size)))


def _paper(rng, size, lines=0):
    fibres = _spectral_noise(rng, size, beta=0.5, stretch=4.0, angle=rng.uniform(0, np.pi))
    g = _grey(1.0 + 0.025 * fibres + 0.02 * _spectral_noise(rng, size, beta=1.5))
    if lines:
        y = np.arange(size)[:, None]
        on = (y % (size // lines)) == 0
        ink = np.array([0.55, 0.7, 1.0], dtype=np.float32)  # faint blue ruling
        g = np.where(on[..., None], g * ink, g)
    return g


def _leather(rng, size, n_cells=300):
    f1, f2, _ = _voronoi(rng, size, n_cells)
    crease = _blur_periodic(np.exp(-(((f2 - f1) / 1.2) ** 2)).astype(np.float32), 0.7)
    g = np.clip(_emboss(-crease, 0.4), 0.7, 1.3) * (1 - 0.15 * crease)
    g = g * (1 + 0.06 * _spectral_noise(rng, size, beta=1.4))
    return _warm_tint(g, 0.2)


def _plain(rng, size, amount=0.015):
    return _grey(1.0 + amount * _spectral_noise(rng, size, beta=1.0))


def _stripes(rng, size, n=8, colours=None):
    x, _ = _grid(size)
    idx = np.floor(x * n / size).astype(np.int64) % n
    soft = 0.5 + 0.5 * np.cos(2 * np.pi * x * n / size)
    if colours is None:
        g = 1.0 - rng.uniform(0.1, 0.3) * soft
        return _grey(np.broadcast_to(g, (size, size)))
    col = colours[idx % len(colours)][0]
    return np.broadcast_to(col[None], (size, size, 3)).astype(np.float32)


def _dots(rng, size, n=8):
    x, y = _grid(size)
    fx, fy = (x * n / size) % 1.0 - 0.5, (y * n / size) % 1.0 - 0.5
    r = np.sqrt(fx**2 + fy**2)
    return _grey(np.where(r < rng.uniform(0.15, 0.3), rng.uniform(0.4, 0.7), 1.0))
