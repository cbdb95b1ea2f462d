"""Fine-tune a segmentation network's decoder on stored encoder features at the predict size.

Runs ``real3d.train.decoder_tune``: the encoder features of ``--views`` labelled views of
``--data`` (never the held-out views), computed once at the size ``predict`` uses and kept
in ``--features`` (made again unless made from these weights, data and settings), optionally
with the network's own test-time-augmented prediction as a distillation target; then
``--steps`` steps that train the decoder alone. The output card is the input card plus
``decoder_tune`` (the command, data, settings, seconds, last losses); its ``metrics`` are
dropped, since they described the input weights: run ``tools/card_metrics.py`` on the output.

    python tools/tune_decoder.py src/real3d/weights/rgbd-default.safetensors \\
        --data "synth:kind=mixed,size=240x320,seed=0,first=214400,n=6400" --cache runs/cache/tr4 \\
        --features runs/dec-features --teacher-flip --teacher-scales 1,1.2 --out runs/dec/model.safetensors
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="name or .safetensors")
    ap.add_argument("--data", required=True, help="labelled views for training (a data spec), never the held-out ones")
    ap.add_argument("--cache", type=Path, default=None, help="render the views once into this folder")
    ap.add_argument("--features", type=Path, required=True, help="folder of the stored encoder features")
    ap.add_argument("--views", type=int, default=None, help="the first N views of --data (default: all)")
    ap.add_argument("--teacher-flip", action="store_true", help="distillation target: the flip average")
    ap.add_argument("--teacher-scales", default="1", help="distillation target over these scales, e.g. 1,1.2")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--ce-weight", type=float, default=1.0)
    ap.add_argument("--kd-weight", type=float, default=None, help="default 1 with a teacher target, else 0")
    ap.add_argument("--lovasz-weight", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch

    from real3d.core.errors import Real3DError
    from real3d.models import load_model, save_weights
    from real3d.models.cards import derived_card, tool_command
    from real3d.train.data import open_data
    from real3d.train.decoder_tune import (
        DecoderTuneConfig,
        cache_views,
        open_view_cache,
        tune_decoder,
    )

    torch.set_num_threads(args.threads)
    try:
        scales = tuple(float(s) for s in args.teacher_scales.split(","))
    except ValueError:
        raise SystemExit(f"--teacher-scales: expected numbers such as 1,1.2, got {args.teacher_scales!r}") from None
    with_teacher = args.teacher_flip or scales != (1.0,)
    kd = args.kd_weight if args.kd_weight is not None else (1.0 if with_teacher else 0.0)
    try:
        cfg = DecoderTuneConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            ce_weight=args.ce_weight,
            kd_weight=kd,
            lovasz_weight=args.lovasz_weight,
            seed=args.seed,
        )
        model = load_model(args.weights)
        t0 = time.perf_counter()
        cache = open_view_cache(args.features) if (args.features / "meta.json").is_file() else None
        if cache is None or not cache.matches(model, args.data, args.teacher_flip, scales, args.views):
            data = open_data(args.data, args.cache)
            cache = cache_views(
                model,
                data,
                args.features,
                max_views=args.views,
                teacher_flip=args.teacher_flip,
                teacher_scales=scales,
                source=args.data,
                progress=lambda i, n: print(f"\rfeatures {i}/{n}", end="", file=sys.stderr),
            )
            print(file=sys.stderr)
        t_cache = time.perf_counter() - t0
        print(f"{len(cache)} views at {cache.meta['network_hw']} ({t_cache:.0f} s)")

        def log(step: int, loss: float) -> None:
            if step % 100 == 0 or step == cfg.steps - 1:
                print(f"step {step} loss {loss:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)

        losses = tune_decoder(model, cache, cfg, log)
    except Real3DError as e:
        raise SystemExit(f"tune_decoder: {e}") from None
    seconds = time.perf_counter() - t0
    card = derived_card(model)
    entry = {
        "command": tool_command("tools/tune_decoder.py"),
        "data": args.data,
        "views": len(cache),
        "network_hw": cache.meta["network_hw"],
        "teacher": cache.meta["teacher"],
        "config": dataclasses.asdict(cfg),
        "seconds": round(seconds, 1),
        "last_losses_mean": round(sum(losses[-50:]) / len(losses[-50:]), 5),
    }
    if "decoder_tune" in card:
        card["decoder_tune_before"] = card["decoder_tune"]
    card["decoder_tune"] = entry
    out = save_weights(model, args.out, card)
    print(f"wrote {out} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
