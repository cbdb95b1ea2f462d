"""Contact sheets of the data engine for docs/images (rgb | depth | labels per row).

python benchmarks/make_contact_sheets.py --out docs/images
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from real3d.synth import SynthDataset, TextureBank, generate_sequence
from real3d.viz.contact_sheet import contact_sheet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--rows", type=int, default=6)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bank = TextureBank(0)
    for kind in ("home", "warehouse"):
        ds = SynthDataset(args.rows * 8, size_hw=(240, 320), kind=kind, seed=42, frames_per_scene=8)
        frames = [ds.frame(i * 8 + 3) for i in range(args.rows)]
        Image.fromarray(contact_sheet(frames, max_rows=args.rows)).save(out / f"synth_{kind}_views.jpg", quality=88)
    seq = generate_sequence(5, 90, size=(240, 320), kind="home", bank=bank)
    Image.fromarray(contact_sheet(seq.frames, max_rows=args.rows)).save(out / "synth_home_trajectory.jpg", quality=88)
    print("written:", *sorted(p.name for p in out.glob("synth_*.jpg")))


if __name__ == "__main__":
    main()
