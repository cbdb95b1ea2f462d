"""Fit per-class logit offsets for mIoU and write weights that carry them.

Runs ``real3d.train.class_bias``: the refined logits of every third pixel of ``--views``
labelled views of ``--data`` (views the weights were not trained on, and never the held-out
views), coordinate ascent on the mIoU of the argmax, the offsets folded into the refinement
head's bias. The output card is the input card plus ``class_bias`` (offsets, data, fit
mIoU before and after, the command); its ``metrics`` are dropped, since they described
the input weights: run ``tools/card_metrics.py`` on the output.

    python tools/tune_class_bias.py src/real3d/weights/rgbd-default.safetensors \\
        --data "synth:kind=mixed,size=240x320,seed=0,first=160000,n=1600" --cache runs/cache/bias \\
        --out runs/rgbd-bias/model.safetensors
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="name or .safetensors")
    ap.add_argument("--data", required=True, help="labelled views the weights were not trained on (a data spec)")
    ap.add_argument("--cache", type=Path, default=None, help="render the views once into this folder")
    ap.add_argument("--views", type=int, default=1600)
    ap.add_argument("--stride", type=int, default=3, help="every N-th pixel in each direction")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--on-top",
        action="store_true",
        help="the weights already carry offsets: fit new ones on top (the card keeps the earlier "
        "fit as class_bias_before)",
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch

    from real3d.models import load_model, save_weights
    from real3d.models.cards import derived_card, tool_command
    from real3d.train.class_bias import apply_class_bias, collect_logits, fit_class_bias
    from real3d.train.data import open_data

    torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    earlier = (getattr(model, "card", None) or {}).get("class_bias")
    if earlier is not None and not args.on_top:
        raise SystemExit(
            f"{args.weights} already carries class offsets; fit them on the weights before, "
            "or pass --on-top to fit more on top of them"
        )
    t = time.perf_counter()
    data = open_data(args.data, args.cache)
    logits, labels = collect_logits(model, data, max_views=args.views, stride=args.stride)
    fit = fit_class_bias(logits, labels)
    print(
        f"{len(labels)} pixels of {min(args.views, len(data))} views; "
        f"fit mIoU {fit.miou_before:.2f} -> {fit.miou_after:.2f} ({time.perf_counter() - t:.0f} s)"
    )
    print("offsets:", ", ".join(f"{b:+.2f}" for b in fit.bias))
    apply_class_bias(model, fit.bias)
    card = derived_card(model)
    if earlier is not None:
        before = card.get("class_bias_before")
        card["class_bias_before"] = dict(earlier, **({"before": before} if before else {}))
    card["class_bias"] = dict(
        fit.to_dict(),
        data=args.data,
        views=args.views,
        pixel_stride=args.stride,
        command=tool_command("tools/tune_class_bias.py"),
    )
    print("wrote", save_weights(model, args.out, card))


if __name__ == "__main__":
    main()
