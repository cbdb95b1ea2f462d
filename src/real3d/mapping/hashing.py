"""A vectorised open-addressing hash from integer voxel coordinates to dense row ids.

Why not a Python dict or Open3D's hashmap: a frame touches tens of thousands of voxels, and
both cost a Python-level call (or a tensor round trip) per batch that would dominate a
frame's fusion budget (see ARCHITECTURE.md). Here lookup and the insertion of distinct
keys are compiled loops over the batch (numba, GIL released): linear probing with
Fibonacci hashing, load factor kept <= 0.5 so that almost every key resolves in one or two
probes. Insertion claims slots in rounds (every missing key reads its slot, then all that
found it empty write, the last write winning, then the winners take rows in batch order;
the rest probe on), so the rows new keys get are those of the vectorised rounds the table
has always used: maps keep their row order.

Values are not stored in the table: each key gets a dense row id ``0..len-1`` in insertion
order, and the owner keeps its per-voxel attributes in plain arrays indexed by that id.
Growing the table therefore never moves the attributes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from real3d.core.errors import InputError, describe_array
from real3d.mapping.fusion_kernels import _AHEAD, _prefetch

_EMPTY = np.int64(-1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# 17 bits per axis: coordinates in [-2**16, 2**16) voxels (+-3.2 km at 5 cm). Keys stay
# below 2**51, so they are exact in float64 and can be formed with one matrix product.
_BITS = 17
_OFFSET = 1 << (_BITS - 1)
_AXIS_MASK = (1 << _BITS) - 1
AXIS_RANGE_VOXELS = _OFFSET  # voxel coordinates lie in [-AXIS_RANGE_VOXELS, AXIS_RANGE_VOXELS) per axis


def pack_coords(ijk: np.ndarray) -> np.ndarray:
    """Integer voxel coordinates (N, 3) -> (N,) int64 keys (17 bits per axis, all >= 0)."""
    ijk = np.asarray(ijk)
    if ijk.ndim != 2 or ijk.shape[1] != 3:
        raise InputError(f"pack_coords: expected (N, 3) integer coordinates, got {describe_array(ijk)}")
    c = ijk.astype(np.int64) + _OFFSET
    if c.size and (c.min() < 0 or c.max() > _AXIS_MASK):
        raise InputError(
            f"pack_coords: voxel coordinates must lie in [{-_OFFSET}, {_OFFSET}), got "
            f"[{int(ijk.min())}, {int(ijk.max())}]"
        )
    return (c[:, 0] << (2 * _BITS)) | (c[:, 1] << _BITS) | c[:, 2]


_FLOAT_WEIGHTS = np.array([2.0 ** (2 * _BITS), 2.0**_BITS, 1.0])
_FLOAT_OFFSET = float(_OFFSET) * float(_FLOAT_WEIGHTS.sum())


def pack_floor(points: np.ndarray, cell_m: float) -> np.ndarray:
    """Keys of the cells of edge ``cell_m`` holding ``points`` ((N, 3) float, metres).

    Same keys as ``pack_coords(floor(points / cell_m))`` but without int64 temporaries.
    Raises InputError when a point lies outside the representable range.
    """
    return keys_from_cells(np.floor(np.asarray(points, dtype=np.float64) * (1.0 / cell_m)), cell_m)


def keys_from_cells(cells: np.ndarray, cell_m: float | None = None) -> np.ndarray:
    """Keys of integer-valued float cell coordinates (N, 3) (e.g. ``np.floor(points / s)``).

    ``cell_m`` (the cell edge in metres), when given, lets an out-of-range error name the
    map's extent in metres. Raises InputError for cells outside the representable range
    (NaN included)."""
    if cells.size and not (cells.min() >= -_OFFSET and cells.max() < _OFFSET):
        if cell_m is None or not np.isfinite(cells).all():
            raise InputError(
                f"keys_from_cells: cells span [{cells.min():.0f}, {cells.max():.0f}], outside [{-_OFFSET}, {_OFFSET})"
            )
        lim = _OFFSET * cell_m
        raise InputError(
            f"points up to {max(abs(float(cells.min())), abs(float(cells.max()))) * cell_m:.0f} m "
            f"from the origin: a map of {cell_m} m cells reaches +-{lim:.0f} m "
            f"(coordinates [{-lim:.1f}, {lim:.1f}) m per axis)"
        )
    return (cells @ _FLOAT_WEIGHTS + _FLOAT_OFFSET).astype(np.int64)


_i8_1 = types.int64[::1]


@njit(_i8_1(_i8_1, _i8_1, types.int64, _i8_1), cache=True, nogil=True)
def _lookup_kernel(table_keys, table_rows, bits, keys):
    """Row of each key in the table (-1 where absent)."""
    mask = (np.int64(1) << bits) - 1
    shift = np.uint64(64 - bits)
    out = np.empty(keys.shape[0], np.int64)
    n = keys.shape[0]
    for i in range(n):
        if i + _AHEAD < n:
            ahead = np.int64((np.uint64(keys[i + _AHEAD]) * np.uint64(0x9E3779B97F4A7C15)) >> shift)
            _prefetch(table_keys, ahead)
            _prefetch(table_rows, ahead)
        key = keys[i]
        slot = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> shift)
        while True:
            k = table_keys[slot]
            if k == key:
                out[i] = table_rows[slot]
                break
            if k == -1:
                out[i] = -1
                break
            slot = (slot + 1) & mask
    return out


@njit(types.int64(_i8_1, _i8_1, types.int64, _i8_1, types.int64, _i8_1, _i8_1), cache=True, nogil=True)
def _claim_kernel(table_keys, table_rows, bits, store, n, keys, rows):
    """Insert the keys whose ``rows`` are -1 (distinct, absent from the table) in rounds
    (module docstring): new rows from ``n`` into ``rows`` and their keys into ``store``.
    Returns the new key count."""
    mask = (np.int64(1) << bits) - 1
    shift = np.uint64(64 - bits)
    m = 0
    for i in range(keys.shape[0]):
        if rows[i] < 0:
            m += 1
    pend = np.empty(m, np.int64)
    slot = np.empty(m, np.int64)
    empty = np.empty(m, np.bool_)
    m = 0
    for i in range(keys.shape[0]):
        if rows[i] < 0:
            pend[m] = i
            slot[m] = np.int64((np.uint64(keys[i]) * np.uint64(0x9E3779B97F4A7C15)) >> shift)
            m += 1
    while m:
        for j in range(m):  # every key reads its slot ...
            empty[j] = table_keys[slot[j]] == -1
        for j in range(m):  # ... those that found it empty write (the last write stays) ...
            if empty[j]:
                table_keys[slot[j]] = keys[pend[j]]
        left = 0
        for j in range(m):  # ... the winners take rows in batch order, the rest probe on
            i = pend[j]
            if empty[j] and table_keys[slot[j]] == keys[i]:
                table_rows[slot[j]] = n
                store[n] = keys[i]
                rows[i] = n
                n += 1
            else:
                pend[left] = i
                slot[left] = (slot[j] + 1) & mask
                left += 1
        m = left
    return n


@njit(types.void(_i8_1, _i8_1, types.int64, _i8_1, _i8_1), cache=True, nogil=True)
def _place_kernel(table_keys, table_rows, bits, keys, rows):
    """Write distinct ``keys`` with their ``rows`` into an empty-enough table in rounds:
    every pending key reads its slot, those that found it empty write (the last write
    wins), the winners store their row, the rest probe on (the table's layout is the
    one these rounds have always given)."""
    mask = (np.int64(1) << bits) - 1
    shift = np.uint64(64 - bits)
    m = keys.shape[0]
    pend = np.arange(m)
    slot = np.empty(m, np.int64)
    empty = np.empty(m, np.bool_)
    for j in range(m):
        slot[j] = np.int64((np.uint64(keys[j]) * np.uint64(0x9E3779B97F4A7C15)) >> shift)
    while m:
        for j in range(m):
            empty[j] = table_keys[slot[j]] == -1
        for j in range(m):
            if empty[j]:
                table_keys[slot[j]] = keys[pend[j]]
        left = 0
        for j in range(m):
            i = pend[j]
            if empty[j] and table_keys[slot[j]] == keys[i]:
                table_rows[slot[j]] = rows[i]
            else:
                pend[left] = i
                slot[left] = (slot[j] + 1) & mask
                left += 1
        m = left


def unpack_keys(keys: np.ndarray) -> np.ndarray:
    """(N,) int64 keys -> (N, 3) int64 voxel coordinates (inverse of ``pack_coords``)."""
    keys = np.asarray(keys, dtype=np.int64)
    out = np.empty((keys.shape[0], 3), dtype=np.int64)
    out[:, 0] = (keys >> (2 * _BITS)) & _AXIS_MASK
    out[:, 1] = (keys >> _BITS) & _AXIS_MASK
    out[:, 2] = keys & _AXIS_MASK
    return out - _OFFSET


class VoxelHash:
    """Set of int64 keys (>= 0), each mapped to a dense row id in insertion order.

    Attributes:
        keys: (len,) int64 keys in row order (a view; rows never move).
    """

    def __init__(self, capacity: int = 1 << 14) -> None:
        bits = max(4, int(np.ceil(np.log2(max(capacity, 16)))))
        self._alloc_table(bits)
        self._keys = np.empty(max(capacity // 2, 16), dtype=np.int64)
        self._n = 0

    def _alloc_table(self, bits: int) -> None:
        self._bits = bits
        self._mask = np.int64((1 << bits) - 1)
        self._table_keys = np.full(1 << bits, _EMPTY, dtype=np.int64)
        self._table_rows = np.full(1 << bits, -1, dtype=np.int64)

    def __len__(self) -> int:
        return self._n

    @property
    def keys(self) -> np.ndarray:
        return self._keys[: self._n]

    @property
    def table_size(self) -> int:
        return int(self._table_keys.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self._table_keys.nbytes + self._table_rows.nbytes + self._keys.nbytes)

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        h = keys.view(np.uint64) * _GOLDEN  # wraps mod 2**64 on purpose
        return (h >> np.uint64(64 - self._bits)).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row ids of ``keys`` ((N,) int64); -1 where a key is absent."""
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        return _lookup_kernel(self._table_keys, self._table_rows, self._bits, keys)

    def insert(self, keys: np.ndarray, reserve: int = 0, distinct: bool = False) -> np.ndarray:
        """Row ids of ``keys`` ((N,) int64 >= 0), adding the missing ones; duplicates allowed.

        New keys get consecutive row ids starting at the old ``len``. The table grows
        before the batch when ``len + max(N, reserve)`` keys would fill more than half of
        it. Which rows the new keys get depends on the table's size; a caller that
        inserts the distinct keys of a batch (each at its last occurrence, in order;
        ``DistinctCells``) and passes the batch's size as ``reserve`` gets the rows that
        inserting the whole batch would give. ``distinct``: the caller guarantees that
        no key repeats (a faster path; a repeated key would then get two rows).
        """
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        n_in = keys.shape[0]
        n_grow = max(n_in, int(reserve))
        if (self._n + n_grow) * 2 > self.table_size:
            self._grow(self._n + n_grow)
        if distinct:
            return self._insert_distinct(keys)
        rows = np.full(n_in, -1, dtype=np.int64)
        pending = np.arange(n_in)
        slot = self._slots(keys)
        tk, tr = self._table_keys, self._table_rows
        while pending.size:
            s = slot[pending]
            want = keys[pending]
            k = tk[s]
            hit = k == want
            rows[pending[hit]] = tr[s[hit]]
            empty = k == _EMPTY
            if empty.any():
                se, we, pe = s[empty], want[empty], pending[empty]
                # Claim empty slots; when several different keys race for one slot the last
                # write wins and the others probe on. Equal keys all win the same slot.
                tk[se] = we
                won = tk[se] == we
                sw, pw = se[won], pe[won]
                # One new row per claimed slot: pick a single owner among equal keys the
                # same way (last write wins), then everybody reads the owner's row.
                order = np.arange(sw.shape[0], dtype=np.int64)
                tr[sw] = order
                owner = tr[sw] == order
                n_new = int(owner.sum())
                self._ensure_rows(self._n + n_new)
                new_rows = self._n + np.arange(n_new, dtype=np.int64)
                tr[sw[owner]] = new_rows
                self._keys[new_rows] = keys[pw[owner]]
                self._n += n_new
                rows[pw] = tr[sw]
                hit[np.flatnonzero(empty)[won]] = True
            go_on = ~hit
            pending = pending[go_on]
            slot[pending] = (s[go_on] + 1) & self._mask
        return rows

    def _insert_distinct(self, keys: np.ndarray) -> np.ndarray:
        """``insert`` of keys that do not repeat, with the rows the general loop gives:
        keys already in the table only read it; the missing ones claim slots in rounds
        among themselves (module docstring), which for distinct keys has one claimant per
        won slot and needs no owner election."""
        rows = self.lookup(keys)
        n_miss = int(np.count_nonzero(rows < 0))
        if n_miss:
            self._ensure_rows(self._n + n_miss)
            self._n = int(
                _claim_kernel(self._table_keys, self._table_rows, self._bits, self._keys, self._n, keys, rows)
            )
        return rows

    def _ensure_rows(self, n: int) -> None:
        if n > self._keys.shape[0]:
            grown = np.empty(max(n, 2 * self._keys.shape[0]), dtype=np.int64)
            grown[: self._n] = self._keys[: self._n]
            self._keys = grown

    def _grow(self, n_needed: int) -> None:
        bits = self._bits
        while (1 << bits) < 2 * n_needed:
            bits += 1
        old_keys = self.keys.copy()
        self._alloc_table(bits)
        if old_keys.size:
            self._place(old_keys, np.arange(old_keys.shape[0], dtype=np.int64))

    def _place(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Write distinct keys with known rows into an empty-enough table."""
        _place_kernel(
            self._table_keys, self._table_rows, self._bits, np.ascontiguousarray(keys, np.int64),
            np.ascontiguousarray(rows, np.int64),
        )  # fmt: skip

    @classmethod
    def from_keys(cls, keys: np.ndarray) -> VoxelHash:
        """A hash holding distinct ``keys`` with row ids ``0..N-1`` in the given order."""
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        h = cls(capacity=max(16, 2 * keys.shape[0]))
        h._ensure_rows(keys.shape[0])
        h._keys[: keys.shape[0]] = keys
        h._n = keys.shape[0]
        if keys.size:
            h._place(keys, np.arange(keys.shape[0], dtype=np.int64))
        return h


class DistinctCells:
    """Finds the distinct cells of a batch of integer cell coordinates, keeping a scratch
    grid between batches (one per owner; not thread-safe).

    A batch whose bounding box holds at most ``max_grid_cells`` cells is deduplicated in
    a dense scratch grid over that box (two passes, no sort); a larger one by sorting its
    keys.
    """

    def __init__(self, max_grid_cells: int = 1 << 23) -> None:
        self.max_grid_cells = int(max_grid_cells)
        self._grid = np.zeros(0, np.int32)

    def last_occurrences(
        self, cells: np.ndarray, cell_m: float | None = None, at: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The distinct cells of a batch.

        Args:
            cells: (3, S) float64 integer-valued cell coordinates, one row per axis
                (``np.floor(points / s)``; rows contiguous for speed).
            cell_m: the cell edge in metres, for the error message (``keys_from_cells``).
            at: (A,) int positions into the batch whose distinct-cell index to return.

        Returns:
            (last (M,) int64 positions of the last occurrence of each distinct cell, in
            increasing order; (A,) int64 index into ``last`` of the cell at each position
            of ``at``, or None without ``at``).

        Raises:
            InputError: cells outside the representable range (``keys_from_cells``).
        """
        n = cells.shape[1]
        if n == 0:
            return np.zeros(0, np.int64), (None if at is None else np.zeros(0, np.int64))
        lo = np.array([c.min() for c in cells])
        hi = np.array([c.max() for c in cells])
        extent = hi - lo + 1.0
        volume = float(np.prod(extent))
        if not (lo.min() >= -_OFFSET and hi.max() < _OFFSET and volume <= self.max_grid_cells):
            return self._by_sorting(keys_from_cells(cells.T, cell_m), at)
        # Row-major index of each cell in the box (exact: integers below 2**53).
        lin_f = cells[0] - lo[0]
        lin_f *= extent[1]
        lin_f += cells[1]
        lin_f -= lo[1]
        lin_f *= extent[2]
        lin_f += cells[2]
        lin_f -= lo[2]
        lin = lin_f.astype(np.int64)
        if self._grid.shape[0] < volume:
            self._grid = np.empty(max(int(volume), 2 * self._grid.shape[0]), np.int32)
        grid = self._grid
        pos = np.arange(n, dtype=np.int32)
        grid[lin] = pos  # the last writer of each cell stays
        last = np.flatnonzero(grid[lin] == pos)
        if at is None:
            return last, None
        grid[lin.take(last)] = np.arange(last.shape[0], dtype=np.int32)
        return last, grid[lin.take(at)].astype(np.int64)

    @staticmethod
    def _by_sorting(keys: np.ndarray, at: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        n = keys.shape[0]
        _, first_rev, inv_rev = np.unique(keys[::-1], return_index=True, return_inverse=True)
        last_sorted = (n - 1) - first_rev  # per distinct key in key order
        order = np.argsort(last_sorted)
        rank = np.empty(order.shape[0], np.int64)
        rank[order] = np.arange(order.shape[0])
        last = last_sorted[order]
        if at is None:
            return last, None
        return last, rank[inv_rev.reshape(-1)[(n - 1) - np.asarray(at, np.int64)]]
