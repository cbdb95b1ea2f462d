"""Sparse voxel tensors: integer sites on a voxel grid with a feature row per site.

Conventions (checked on construction, see ``SparseTensor``):

* ``coords`` is (N, 4) int32 ``(batch, x, y, z)``. x, y, z index the tensor's own grid:
  at tensor stride ``s`` one cell spans ``s`` cells of the finest grid, and a site at
  stride ``2 s`` is ``floor(c / 2)`` of the stride-``s`` sites it covers.
* Rows are sorted by their packed int64 key (``pack_keys``: batch, then x, y, z) and
  unique. Sorted rows let kernel maps be built with one ``torch.searchsorted`` and keep
  every batch's rows contiguous. ``SparseTensor.from_coords`` sorts and merges for users.
* Empty tensors (N = 0) are refused with ``InputError``: every op here would otherwise
  need a separate code path for a case no caller has a use for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from real3d.core.errors import InputError, describe_array

# Packed key layout (63 bits, always >= 0): batch in the top 15 bits, then 16 bits per
# axis holding ``coordinate + 2**15``. Coordinates are limited to [-2**14, 2**14) so that
# adding any kernel offset (|offset| < 2**14) to a key never carries into the next field:
# a neighbour's key is then ``key + key_delta(offset)``, one add per offset.
AXIS_BITS = 16
BATCH_BITS = 15
_AXIS_OFFSET = 1 << (AXIS_BITS - 1)
_AXIS_MASK = (1 << AXIS_BITS) - 1
COORD_MIN = -(1 << 14)
COORD_MAX = (1 << 14) - 1
BATCH_MAX = (1 << BATCH_BITS) - 1


def pack_keys(coords: torch.Tensor) -> torch.Tensor:
    """(N, 4) integer (batch, x, y, z) -> (N,) int64 keys ordered by batch, x, y, z.

    Coordinates must lie in [COORD_MIN, COORD_MAX] and batch in [0, BATCH_MAX]; callers
    check (``SparseTensor`` does).
    """
    c = coords.to(torch.int64)
    return (
        (c[:, 0] << (3 * AXIS_BITS))
        | ((c[:, 1] + _AXIS_OFFSET) << (2 * AXIS_BITS))
        | ((c[:, 2] + _AXIS_OFFSET) << AXIS_BITS)
        | (c[:, 3] + _AXIS_OFFSET)
    )


def unpack_keys(keys: torch.Tensor) -> torch.Tensor:
    """(N,) int64 keys -> (N, 4) int32 (batch, x, y, z); inverse of ``pack_keys``."""
    out = torch.stack(
        (
            keys >> (3 * AXIS_BITS),
            ((keys >> (2 * AXIS_BITS)) & _AXIS_MASK) - _AXIS_OFFSET,
            ((keys >> AXIS_BITS) & _AXIS_MASK) - _AXIS_OFFSET,
            (keys & _AXIS_MASK) - _AXIS_OFFSET,
        ),
        dim=1,
    )
    return out.to(torch.int32)


def key_delta(offset: tuple[int, int, int]) -> int:
    """Key difference between a site and its neighbour at voxel ``offset`` (dx, dy, dz)."""
    dx, dy, dz = offset
    return (dx << (2 * AXIS_BITS)) + (dy << AXIS_BITS) + dz


def check_coords(coords: torch.Tensor, where: str) -> None:
    """Raise InputError unless ``coords`` is (N, 4) int32 with N > 0 and values in range."""
    if not isinstance(coords, torch.Tensor):
        raise InputError(f"{where}: expected coords as a torch.Tensor (N, 4) int32, got {type(coords).__name__}")
    if coords.ndim != 2 or coords.shape[1] != 4:
        raise InputError(f"{where}: expected coords (N, 4) int32 (batch, x, y, z), got {describe_array(coords)}")
    if coords.dtype != torch.int32:
        raise InputError(f"{where}: expected coords of dtype int32, got {describe_array(coords)}")
    if coords.shape[0] == 0:
        raise InputError(f"{where}: expected at least one site, got an empty (0, 4) coords tensor")
    lo = coords.amin(dim=0)
    hi = coords.amax(dim=0)
    if int(lo[0]) < 0 or int(hi[0]) > BATCH_MAX:
        raise InputError(f"{where}: batch indices must lie in [0, {BATCH_MAX}], got [{int(lo[0])}, {int(hi[0])}]")
    if int(lo[1:].min()) < COORD_MIN or int(hi[1:].max()) > COORD_MAX:
        raise InputError(
            f"{where}: x, y, z must lie in [{COORD_MIN}, {COORD_MAX}], got [{int(lo[1:].min())}, {int(hi[1:].max())}]"
        )


@dataclass(frozen=True)
class KernelMap:
    """Rulebook of one sparse convolution: for each kernel offset, the (input, output) row pairs.

    Attributes:
        in_rows, out_rows: per offset k, (M_k,) int64 row indices; output row
            ``out_rows[k][j]`` receives ``input[in_rows[k][j]] @ weight[k]``. Within one
            offset every output row appears at most once.
        num_in, num_out: number of input and output sites.
        identity_offset: index of the offset whose pairs are all (i, i) for
            i in range(num_in) (the centre of a submanifold kernel), or -1.
        in_once, out_once: every input (output) row appears in exactly one pair over all
            offsets (the inputs of a kernel-2 stride-2 map, the outputs of its transpose).
    """

    in_rows: tuple[torch.Tensor, ...]
    out_rows: tuple[torch.Tensor, ...]
    num_in: int
    num_out: int
    identity_offset: int = -1
    in_once: bool = False
    out_once: bool = False

    @property
    def volume(self) -> int:
        """Number of kernel offsets K."""
        return len(self.in_rows)

    @property
    def num_pairs(self) -> int:
        return int(sum(r.shape[0] for r in self.in_rows))

    def transposed(self) -> KernelMap:
        """The same pairs with inputs and outputs swapped (for transposed convolution)."""
        return KernelMap(
            self.out_rows,
            self.in_rows,
            self.num_out,
            self.num_in,
            self.identity_offset,
            in_once=self.out_once,
            out_once=self.in_once,
        )

    def neighbour_table(self) -> torch.Tensor:
        """(num_out, K) int64: input row feeding each output row per offset, ``num_in`` where none.

        ``num_in`` points at a zero row appended to the input features, which makes the
        convolution one gather and one matmul (see ``real3d.sparse.export``).
        """
        table = torch.full((self.num_out, self.volume), self.num_in, dtype=torch.int64)
        for k, (i, o) in enumerate(zip(self.in_rows, self.out_rows)):
            table[o, k] = i
        return table


@dataclass
class KernelMapCache:
    """Kernel maps and site sets shared by the tensors of one network pass.

    A tensor made from another (conv output, BatchNorm, ReLU, downsampling) carries the
    same cache, so a kernel map is built once per (kind, stride, kernel, dilation) and then
    reused by every layer at that stride. ``builds`` and ``hits`` count the two outcomes.

    Attributes:
        coords: tensor stride -> (N_s, 4) int32 sorted sites at that stride.
        keys: tensor stride -> (N_s,) int64 sorted packed keys of those sites.
        maps: (kind, stride, kernel, dilation) -> KernelMap.
    """

    coords: dict[int, torch.Tensor] = field(default_factory=dict)
    keys: dict[int, torch.Tensor] = field(default_factory=dict)
    maps: dict[tuple[str, int, int, int], KernelMap] = field(default_factory=dict)
    builds: int = 0
    hits: int = 0

    def register(self, stride: int, coords: torch.Tensor, keys: torch.Tensor) -> None:
        """Record the sites at ``stride``; a different site set at a known stride is refused."""
        known = self.coords.get(stride)
        if known is None:
            self.coords[stride] = coords
            self.keys[stride] = keys
        elif known is not coords and not torch.equal(known, coords):
            raise InputError(
                f"KernelMapCache: stride {stride} already holds {known.shape[0]} other sites; "
                f"got {coords.shape[0]} sites. Tensors with different sites at one stride "
                "need separate caches"
            )

    def get(self, key: tuple[str, int, int, int], build) -> KernelMap:
        """The map under ``key``, calling ``build()`` only the first time."""
        kmap = self.maps.get(key)
        if kmap is None:
            kmap = build()
            self.maps[key] = kmap
            self.builds += 1
        else:
            self.hits += 1
        return kmap


class SparseTensor:
    """Features on the occupied sites of a batched 3D voxel grid.

    Args:
        coords: (N, 4) int32 (batch, x, y, z), N >= 1, batch >= 0, x/y/z in
            [COORD_MIN, COORD_MAX], rows sorted by ``pack_keys`` and unique.
        feats: (N, C) floating point features, one row per site.
        stride: tensor stride (1 for the finest grid, 2, 4, ... after downsampling).
        cache: kernel-map cache to share with related tensors; a new one if None.

    Raises:
        InputError: wrong types, shapes or dtypes, N = 0, a count mismatch, values out of
            range, unsorted or duplicate sites, or a stride < 1.
    """

    __slots__ = ("coords", "feats", "stride", "cache", "_keys")

    def __init__(
        self,
        coords: torch.Tensor,
        feats: torch.Tensor,
        stride: int = 1,
        cache: KernelMapCache | None = None,
        *,
        _keys: torch.Tensor | None = None,
    ) -> None:
        check_coords(coords, "SparseTensor")
        _check_feats(feats, coords.shape[0], "SparseTensor")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise InputError(f"SparseTensor: expected an integer stride >= 1, got {stride!r}")
        keys = pack_keys(coords) if _keys is None else _keys
        if keys.shape[0] > 1:
            steps = keys[1:] - keys[:-1]
            if bool((steps <= 0).any()):
                bad = int(torch.nonzero(steps <= 0)[0, 0])
                what = "duplicate" if int(steps[bad]) == 0 else "unsorted"
                raise InputError(
                    f"SparseTensor: expected sites sorted by packed key and unique, got {what} "
                    f"rows {bad} and {bad + 1} ({coords[bad].tolist()}, {coords[bad + 1].tolist()}); "
                    "use SparseTensor.from_coords to sort and merge"
                )
        self.coords = coords
        self.feats = feats
        self.stride = stride
        self._keys = keys
        self.cache = KernelMapCache() if cache is None else cache
        self.cache.register(stride, coords, keys)

    @classmethod
    def from_coords(
        cls, coords: torch.Tensor, feats: torch.Tensor, stride: int = 1, reduce: str = "mean"
    ) -> SparseTensor:
        """Sort sites by key and merge duplicates.

        Args:
            coords: (N, 4) integer (batch, x, y, z) in any order, duplicates allowed.
            feats: (N, C) floating point features.
            stride: tensor stride of the sites.
            reduce: how features of duplicate sites merge: "mean", "sum" or "max".
        """
        if isinstance(coords, torch.Tensor) and coords.dtype in (torch.int16, torch.int64, torch.uint8, torch.int8):
            coords = coords.to(torch.int32)
        check_coords(coords, "SparseTensor.from_coords")
        _check_feats(feats, coords.shape[0], "SparseTensor.from_coords")
        if reduce not in ("mean", "sum", "max"):
            raise InputError(f"SparseTensor.from_coords: reduce must be 'mean', 'sum' or 'max', got {reduce!r}")
        keys, inverse = torch.unique(pack_keys(coords), sorted=True, return_inverse=True)
        merged = feats.new_zeros((keys.shape[0], feats.shape[1]))
        if reduce == "max":
            index = inverse.unsqueeze(1).expand_as(feats)
            merged = merged.scatter_reduce(0, index, feats, "amax", include_self=False)
        else:
            merged = merged.index_add(0, inverse, feats)
            if reduce == "mean":
                counts = torch.bincount(inverse, minlength=keys.shape[0]).to(feats.dtype)
                merged = merged / counts.unsqueeze(1)
        return cls(unpack_keys(keys), merged, stride, _keys=keys)

    @property
    def keys(self) -> torch.Tensor:
        """(N,) int64 sorted packed keys of the sites."""
        return self._keys

    @property
    def num_sites(self) -> int:
        return int(self.coords.shape[0])

    @property
    def num_channels(self) -> int:
        return int(self.feats.shape[1])

    @property
    def batch_size(self) -> int:
        """Largest batch index + 1 (rows are sorted, so the last row holds it)."""
        return int(self.coords[-1, 0]) + 1

    def batch_rows(self) -> Iterator[tuple[int, int, int]]:
        """(batch, first row, end row) for each batch index 0..batch_size-1 (rows contiguous)."""
        bounds = torch.searchsorted(
            self.coords[:, 0].contiguous(), torch.arange(self.batch_size + 1, dtype=torch.int32)
        )
        for b in range(self.batch_size):
            yield b, int(bounds[b]), int(bounds[b + 1])

    def replace_feats(self, feats: torch.Tensor) -> SparseTensor:
        """Same sites, stride and cache with new (N, C') features (skips the sort check)."""
        _check_feats(feats, self.num_sites, "SparseTensor.replace_feats")
        out = SparseTensor.__new__(SparseTensor)
        out.coords, out.feats, out.stride, out.cache, out._keys = (
            self.coords,
            feats,
            self.stride,
            self.cache,
            self._keys,
        )
        return out

    def dense(
        self, origin: tuple[int, int, int] | None = None, shape: tuple[int, int, int] | None = None
    ) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """Dense (B, C, X, Y, Z) copy with zeros at empty cells, and the grid origin used.

        ``origin`` defaults to the per-axis minimum of the sites and ``shape`` to the
        extent from there; meant for tests and small grids.
        """
        xyz = self.coords[:, 1:].to(torch.int64)
        o = xyz.amin(dim=0) if origin is None else torch.tensor(origin, dtype=torch.int64)
        rel = xyz - o
        ext = (rel.amax(dim=0) + 1).tolist() if shape is None else list(shape)
        if bool((rel < 0).any()) or any(int(rel[:, i].max()) >= ext[i] for i in range(3)):
            raise InputError(f"SparseTensor.dense: sites fall outside the grid origin {o.tolist()} shape {ext}")
        grid = self.feats.new_zeros((self.batch_size, *ext, self.num_channels))
        grid[self.coords[:, 0].long(), rel[:, 0], rel[:, 1], rel[:, 2]] = self.feats
        return grid.permute(0, 4, 1, 2, 3).contiguous(), tuple(int(v) for v in o)

    def __repr__(self) -> str:
        return (
            f"SparseTensor(sites={self.num_sites}, channels={self.num_channels}, stride={self.stride}, "
            f"batch_size={self.batch_size}, dtype={self.feats.dtype})"
        )


def _check_feats(feats: torch.Tensor, n: int, where: str) -> None:
    if not isinstance(feats, torch.Tensor):
        raise InputError(f"{where}: expected feats as a torch.Tensor (N, C) float, got {type(feats).__name__}")
    if feats.ndim != 2:
        raise InputError(f"{where}: expected feats (N, C) float, got {describe_array(feats)}")
    if not feats.is_floating_point():
        raise InputError(f"{where}: expected floating point feats, got {describe_array(feats)}")
    if feats.shape[0] != n:
        raise InputError(f"{where}: expected one feature row per site ({n} rows), got {describe_array(feats)}")
