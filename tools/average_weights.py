"""Average segmentation weights tensor by tensor (a weight average of fine-tuned models).

Every floating-point tensor of the output, BatchNorm running statistics included, is the
weighted mean of that tensor in the inputs; the inputs must be the same network, and
the average is only meaningful for weights fine-tuned from a common start. The output
card is the first input's card with an ``averaged_from`` entry naming the inputs.

    python tools/average_weights.py src/real3d/weights/rgbd-default.safetensors \\
        runs/candidate/model.safetensors --out runs/average/model.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+", help="two or more .safetensors files (each with its .json card)")
    ap.add_argument("--coefficients", default=None, help="comma-separated, summing to 1 (default: equal)")
    ap.add_argument("--out", type=Path, required=True, help="output .safetensors (its card is written beside it)")
    args = ap.parse_args()

    from real3d.models import average_weights, save_weights
    from real3d.models.cards import derived_card

    coef = None if args.coefficients is None else [float(c) for c in args.coefficients.split(",")]
    model = average_weights(args.weights, coef)
    # save_weights derives these from the model and the file it writes
    card = derived_card(model, drop=("config", "params", "size_bytes"))
    print(save_weights(model, args.out, card))


if __name__ == "__main__":
    main()
