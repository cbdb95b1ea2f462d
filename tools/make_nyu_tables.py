"""Build the NYU Depth v2 lookup tables shipped in ``src/real3d/io/data/``.

The package must not read the shared metadata folder at run time, so the tables it needs
are converted once from the published MATLAB files and committed:

- ``nyu894_to_40.npy``: uint8 (895,), 894-class id -> NYUv2-40 id, index 0 (unlabeled) -> 0
- ``nyu894_names.json``: the 894 class names, index i -> class id i + 1
- ``nyu_splits.json``: {"train": [...], "test": [...]}, 0-based indices into the 1,449
  labeled frames (the published files are 1-based)
- ``nyu_gravity_rotations.npy``: float32 (1449, 3, 3), per labeled frame the rotation R
  with p_g = R @ p_cam giving gravity along +y (the published camera_rotations_NYU.txt)

It also checks the published 40 -> 13 table against ``real3d.core``'s copy.

Usage: python tools/make_nyu_tables.py [META_DIR]   (default ../shared/data/nyuv2_meta)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import scipy.io as sio

from real3d.core.labels import NYU40_TO_NYU13

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "real3d" / "io" / "data"


def main(meta: Path) -> None:
    m40 = sio.loadmat(meta / "classMapping40.mat")
    map894 = np.asarray(m40["mapClass"]).ravel().astype(np.int64)
    assert map894.shape == (894,) and map894.min() >= 1 and map894.max() <= 40
    table = np.concatenate([[0], map894]).astype(np.uint8)
    names = [
        str(np.asarray(n).ravel()[0]) if np.asarray(n).size else "" for n in np.asarray(m40["allClassName"]).ravel()
    ]
    assert len(names) == 894

    m13 = sio.loadmat(meta / "class13Mapping.mat")["classMapping13"][0, 0]
    t13 = np.asarray(m13[0]).ravel().astype(np.uint8)
    if not np.array_equal(np.concatenate([[0], t13]), NYU40_TO_NYU13):
        raise SystemExit("published 40 -> 13 table differs from real3d.core's NYU40_TO_NYU13")

    sp = sio.loadmat(meta / "splits.mat")
    splits = {k: (np.asarray(sp[f"{k}Ndxs"]).ravel().astype(int) - 1).tolist() for k in ("train", "test")}
    assert len(splits["train"]) == 795 and len(splits["test"]) == 654
    assert not set(splits["train"]) & set(splits["test"])

    rots = np.loadtxt(meta / "camera_rotations_NYU.txt").reshape(-1, 3, 3)
    assert rots.shape == (1449, 3, 3)

    OUT.mkdir(parents=True, exist_ok=True)
    np.save(OUT / "nyu894_to_40.npy", table)
    (OUT / "nyu894_names.json").write_text(json.dumps(names))
    (OUT / "nyu_splits.json").write_text(json.dumps(splits))
    np.save(OUT / "nyu_gravity_rotations.npy", rots.astype(np.float32))
    print(f"wrote tables to {OUT}")


if __name__ == "__main__":
    default = REPO.parent / "shared" / "data" / "nyuv2_meta"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
