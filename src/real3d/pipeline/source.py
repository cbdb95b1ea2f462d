"""Reading frames from a source for ``Pipeline.run``: an undecodable frame becomes a
report, not the end of the stream."""

from __future__ import annotations

from real3d.core.errors import Real3DError


class _ReadError:
    """Stands in for a frame the source could not deliver (reader error)."""

    def __init__(self, index: int, reason: str):
        self.index, self.reason = index, reason


def _iterate(source, max_frames: int | None):
    """Frames of ``source``; indexable sources are read by index so that one undecodable
    frame becomes a ``_ReadError`` instead of ending the iteration."""
    n_max = max_frames if max_frames is not None else None
    if hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        n = len(source)
        if n_max is not None:
            n = min(n, n_max)
        for k in range(n):
            try:
                yield source[k]
            except (Real3DError, OSError, ValueError) as e:
                yield _ReadError(k, f"read error: {e}")
        return
    it = iter(source)
    k = 0
    while n_max is None or k < n_max:
        try:
            obj = next(it)
        except StopIteration:
            return
        except (Real3DError, OSError, ValueError) as e:
            # A generator cannot continue after raising: report it and stop.
            yield _ReadError(k, f"read error (source ended): {e}")
            return
        yield obj
        k += 1
