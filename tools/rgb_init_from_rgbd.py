"""Initial weights for an RGB-only network from a trained RGB-D network's RGB stream.

An RGB-D preset and the RGB-only preset of the same width share the RGB encoder and the
decoder tensor for tensor; the RGB-D network also has a depth encoder and the cross-modal
attention blocks, which enter the RGB stream through zero-initialised gates. Copying the
shared tensors gives the RGB-only network the RGB-D network's RGB features and decoder as a
starting point for ``real3d train seg --init``. Every tensor of the target must be found in
the source with the same shape, or nothing is written. The target predicts the source's
label set (train it with the same ``--labels``) and runs as the source does (``infer_hw``,
guided upsampling).

    python tools/rgb_init_from_rgbd.py src/real3d/weights/rgbd-default.safetensors \\
        --preset rgb-small --out runs/init/rgb-from-rgbd.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="RGB-D weights (name or .safetensors)")
    ap.add_argument("--preset", default="rgb-small", help="the RGB-only preset to fill")
    ap.add_argument("--out", type=Path, required=True, help="target .safetensors (card beside it)")
    args = ap.parse_args()

    import dataclasses

    from real3d.models import build_model, load_model
    from real3d.models.presets import get_preset
    from real3d.models.pretrained import save_weights

    src = load_model(args.source)
    # the RGB-only network predicts the source's label set (a warehouse source gives warehouse classes)
    preset = get_preset(args.preset)
    dst = build_model(
        dataclasses.replace(
            preset,
            num_classes=src.config.num_classes,
            label_set=src.config.label_set,
            # how predict runs (network size, guided upsampling) follows the source too
            infer_hw=src.config.infer_hw,
            guide_radius=src.config.guide_radius,
            guide_eps=src.config.guide_eps,
        )
    )
    if dst.config.fusion != "rgb":
        raise SystemExit(f"--preset: expected an RGB-only preset, got {args.preset} ({dst.config.fusion})")
    s_state = src.state_dict()
    d_state = dst.state_dict()
    absent = [k for k in d_state if k not in s_state]
    shape = [k for k in d_state if k in s_state and s_state[k].shape != d_state[k].shape]
    if absent or shape:
        raise SystemExit(
            f"{args.source} does not hold {args.preset}'s RGB stream: missing {absent[:5]}, other shapes {shape[:5]}"
        )
    dst.load_state_dict({k: s_state[k] for k in d_state})
    card = {
        "init_from": {
            "weights": str(args.source),
            "tensors": len(d_state),
            "dropped": sorted({k.split(".")[0] for k in s_state if k not in d_state}),
        }
    }
    out = save_weights(dst, args.out, card)
    print(f"{out}: {len(d_state)} tensors from {args.source}; dropped {card['init_from']['dropped']}")


if __name__ == "__main__":
    main()
