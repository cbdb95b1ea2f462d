import numpy as np
import pytest

from real3d.core import ConfigError, InputError
from real3d.synth.textures import (
    PALETTE_HINTS,
    TextureBank,
    random_palette_color,
    sample_texture,
    srgb_to_linear,
)

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
REQUIRED_KINDS = (
    "wood",
    "fabric",
    "tiles",
    "carpet",
    "plaster",
    "brick",
    "stone",
    "metal",
    "paper",
    "leather",
    "plain",
)


@pytest.fixture(scope="module")
def tex_bank():
    return TextureBank(seed=0, size=128)


def test_shapes_dtypes_and_ranges(tex_bank):
    imgs, photos = tex_bank.images, tex_bank.photos
    assert imgs.dtype == np.float32 and photos.dtype == np.float32
    assert imgs.ndim == 4 and imgs.shape[1:] == (128, 128, 3)
    assert photos.ndim == 4 and photos.shape[1:] == (128, 128, 3)
    assert 40 <= len(imgs) <= 80 and len(tex_bank.kinds) == len(imgs) == len(tex_bank)
    assert len(photos) >= 10 and len(tex_bank.photo_names) == len(photos)
    for a in (imgs, photos):
        assert np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0
    # modulation patterns: mean luminance in the stated band, and not flat black/white
    mean_luma = (imgs @ LUMA).mean(axis=(1, 2))
    assert mean_luma.min() >= 0.5 and mean_luma.max() <= 0.8, mean_luma


def test_required_kinds_have_variants(tex_bank):
    for kind in REQUIRED_KINDS:
        ids = tex_bank.ids(kind)
        assert len(ids) >= 2, kind
        assert all(tex_bank.kinds[i] == kind for i in ids)
        # variants really differ
        assert not np.allclose(tex_bank.images[ids[0]], tex_bank.images[ids[1]])


def test_unknown_kind_lists_valid_ones(tex_bank):
    with pytest.raises(ConfigError, match="wood"):
        tex_bank.ids("unobtainium")


def _seam_ratio(img, axis):
    """Mean |difference| between the last and first row (axis 0) or column (axis 1), over
    the largest such mean for neighbouring rows/columns inside the image. For a tileable
    texture the wrap pair is just another neighbour pair, so the ratio is about <= 1."""
    d = np.abs(np.diff(img, axis=axis)).mean(axis=(1 - axis, 2))
    seam = np.abs(np.take(img, 0, axis=axis) - np.take(img, -1, axis=axis)).mean()
    return seam / max(d.max(), 1e-6)


def test_every_texture_tiles(tex_bank):
    for i, img in enumerate(tex_bank.images):
        for axis in (0, 1):
            assert _seam_ratio(img, axis) <= 1.25, (i, tex_bank.kinds[i], axis)


def test_a_cut_image_would_fail_the_tiling_check(tex_bank):
    # The check above can fail: a plain crop of a photo (the astronaut) does not pass it.
    assert tex_bank.photo_names[0] == "astronaut.png"
    assert _seam_ratio(tex_bank.photos[0], 0) > 2.0


def test_same_seed_same_bytes_other_seed_differs():
    a, b, c = TextureBank(3, size=32), TextureBank(3, size=32), TextureBank(4, size=32)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.photos.tobytes() == b.photos.tobytes()
    assert a.kinds == b.kinds == c.kinds
    assert a.images.tobytes() != c.images.tobytes()


def test_bad_size_raises():
    with pytest.raises(ConfigError):
        TextureBank(0, size=8)


def test_sample_texture_nearest_matches_indexing_and_wraps():
    rng = np.random.default_rng(0)
    imgs = rng.random((5, 16, 16, 3), dtype=np.float32)
    ids = rng.integers(0, 5, 200)
    iu, iv = rng.integers(0, 16, 200), rng.integers(0, 16, 200)
    uv = np.stack([iu, iv], 1).astype(np.float32)
    expect = imgs[ids, iv, iu]
    assert np.array_equal(sample_texture(imgs, ids, uv), expect)
    # wrap: whole periods in either direction, and rounding to the nearest texel centre
    shift = np.array([16 * 3, -16 * 7], dtype=np.float32)
    assert np.array_equal(sample_texture(imgs, ids, uv + shift + 0.3), expect)
    assert np.array_equal(sample_texture(imgs, ids, uv - 0.4), expect)


def test_sample_texture_non_power_of_two_wraps():
    imgs = np.arange(12 * 12 * 3, dtype=np.float32).reshape(1, 12, 12, 3)
    out = sample_texture(imgs, np.array([0, 0]), np.array([[-1.0, 0.0], [12.0, 13.0]]))
    assert np.array_equal(out, imgs[0, [0, 1], [11, 0]])


def test_sample_texture_bilinear_is_the_average_between_texels():
    imgs = np.zeros((1, 8, 8, 3), np.float32)
    imgs[0, 2, 3] = 1.0
    imgs[0, 2, 4] = 3.0
    out = sample_texture(imgs, np.array([0, 0]), np.array([[3.5, 2.0], [7.5, 2.0]]), bilinear=True)
    assert np.allclose(out[0], 2.0)
    assert np.allclose(out[1], 0.0)  # between texel 7 and the wrapped texel 0 (both 0)
    # at texel centres bilinear equals nearest
    uv = np.array([[3.0, 2.0], [4.0, 2.0]])
    assert np.allclose(sample_texture(imgs, [0, 0], uv, bilinear=True), sample_texture(imgs, [0, 0], uv))


def test_sample_texture_bad_inputs_raise(tex_bank):
    imgs = tex_bank.images
    with pytest.raises(InputError):
        sample_texture(imgs, np.array([0, 1]), np.zeros((3, 2)))
    with pytest.raises(InputError):
        sample_texture(imgs, np.array([len(imgs)]), np.zeros((1, 2)))
    with pytest.raises(InputError):
        sample_texture(imgs, np.array([0.5]), np.zeros((1, 2)))
    with pytest.raises(InputError):
        sample_texture(imgs[0], np.array([0]), np.zeros((1, 2)))


def test_palette_colors_are_valid_and_deterministic():
    for hint in PALETTE_HINTS:
        c = random_palette_color(np.random.default_rng(1), hint)
        assert c.shape == (3,) and c.dtype == np.float32
        assert (c >= 0).all() and (c <= 1).all()
        assert np.array_equal(c, random_palette_color(np.random.default_rng(1), hint))
    with pytest.raises(ConfigError, match="wood"):
        random_palette_color(np.random.default_rng(0), "unobtainium")


def test_palette_families_look_like_their_material():
    rng = np.random.default_rng(5)
    wood = np.array([random_palette_color(rng, "wood") for _ in range(400)])
    wall = np.array([random_palette_color(rng, "wall") for _ in range(400)])
    metal = np.array([random_palette_color(rng, "metal") for _ in range(400)])
    fabric = np.array([random_palette_color(rng, "fabric") for _ in range(400)])
    # wood is brown on average: red > green > blue
    r, g, b = np.median(wood, axis=0)
    assert r > g > b
    # walls are mostly light
    assert np.median(wall @ LUMA) > 0.45
    # metal is mostly grey: small channel spread
    spread = metal.max(axis=1) - metal.min(axis=1)
    assert np.median(spread) < 0.05
    # fabrics come in many hues: the dominant channel varies
    assert len(set(np.argmax(fabric, axis=1))) == 3


def test_srgb_to_linear_known_values():
    out = srgb_to_linear(np.array([0.0, 0.04045, 0.5, 1.0]))
    assert np.allclose(out, [0.0, 0.04045 / 12.92, 0.21404, 1.0], atol=1e-4)
