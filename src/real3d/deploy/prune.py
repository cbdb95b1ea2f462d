"""Structured channel pruning of a segmentation network to a budget of multiply-accumulates.

``prune_to_macs`` removes whole channels (convolution filters with their BatchNorm entries
and every input that reads them) from a ``Real3DVisionNet`` until one forward pass at a
given input size costs at most a target number of MACs (counted by
``real3d.models.pretrained.count_macs``). The coupling between layers comes from
torch-pruning's dependency graph (an optional extra: ``pip install "real3d[prune]"``), which
follows residual additions, concatenations in the decoder, both encoders and every fusion
block:

- addition and squeeze-excitation fusion: the depth projection's outputs are tied to the RGB
  stream's channels, the excitation's hidden width prunes freely;
- cross-modal attention: the blocks' input and output widths (normalisations, local term,
  output projection and the per-channel gate) prune with the streams they read and write;
  the query, key and value projections keep their width, so the heads keep their size;
- the class heads keep their outputs (one per class) and the stems their inputs (RGB, depth
  + validity).

Pruning runs in steps (each a small fraction of every layer's original width, the
importance estimated again after each) until the budget is met, with every pruned width a
multiple of ``round_to`` (INT8 kernels prefer multiples of 8). The result is a plain
``Real3DVisionNet`` whose config records the pruned widths (``SegNetConfig.channel_widths``),
so ``save_weights`` / ``load_weights`` / ``create_model`` and the ONNX and INT8 exports
handle it like any other model, and loading it needs no torch-pruning.

Importance of a channel group: ``"l1"`` / ``"l2"`` (the norm of the weights, no data) or
``"taylor"`` (|weight x gradient| of the segmentation loss over a few labelled batches).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from real3d.core.errors import ConfigError, InputError
from real3d.core.values import is_int
from real3d.models.pretrained import count_macs
from real3d.models.segmentation import Real3DVisionNet

IMPORTANCES = ("l1", "l2", "taylor")
"""Channel importance criteria ``prune_to_macs`` takes."""

MAX_RATIO = 0.9
"""Largest fraction of a layer's original channels pruning removes."""

OVERSHOOT = 0.02
"""A last step that lands more than this fraction below the budget is taken again group by
group."""

INSTALL_HINT = 'pip install "real3d[prune]"'


@dataclass(frozen=True)
class PruneResult:
    """What ``prune_to_macs`` returns.

    Attributes:
        model: the pruned network (eval mode); its config is the source's with
            ``channel_widths`` set and the name ``name``.
        kept: for every ``Conv2d`` and ``BatchNorm2d`` of the source whose outputs were
            pruned, module path -> the indices of the source's output channels it keeps,
            ascending (the pruned module's channel j is the source's channel ``kept[j]``).
        feature_channels: for each of the five encoder stages (strides 2..32, after fusion:
            the maps ``Real3DVisionNet.encode`` returns), the source channels the pruned
            network keeps; lets a distillation match pruned features to the source's
            without a projection.
        size_hw: (H, W) input size at which the MACs are counted.
        target_macs: the budget.
        macs_before, macs_after: MACs of one forward pass at ``size_hw`` (refined head).
        params_before, params_after: parameter counts.
        steps: pruning steps taken.
        importance: the criterion used.
    """

    model: Real3DVisionNet
    kept: dict[str, tuple[int, ...]]
    feature_channels: tuple[tuple[int, ...], ...]
    size_hw: tuple[int, int]
    target_macs: int
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    steps: int
    importance: str

    def card_entry(self) -> dict:
        """What a model card records about the pruning (``"pruned"``): budget, figures,
        importance and the kept encoder-stage channels (the per-layer record stays out:
        the config holds the widths)."""
        return {
            "size_hw": list(self.size_hw),
            "target_macs": self.target_macs,
            "macs_before": self.macs_before,
            "macs_after": self.macs_after,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "steps": self.steps,
            "importance": self.importance,
            "feature_channels": [list(c) for c in self.feature_channels],
        }


def _torch_pruning():
    """The torch_pruning module; ConfigError naming the extra when it is not installed."""
    try:
        import torch_pruning
    except ImportError:
        raise ConfigError(f"structured pruning needs torch-pruning: {INSTALL_HINT}") from None
    return torch_pruning


def _num_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def stage_output_modules(model: Real3DVisionNet) -> list[str]:
    """Path of the convolution whose output channels are those of each encoder stage's
    output (the last convolution of the stage: residual additions and the fusion, which
    writes into the RGB stream, keep that channel set)."""
    enc = model.encoder
    convs = []
    for i in range(5):
        if hasattr(enc, "stages"):
            prefix, part = f"encoder.stages.{i}", enc.stages[i]
            names = [f"{prefix}.{n}" if n else prefix for n, m in part.named_modules() if isinstance(m, nn.Conv2d)]
        else:  # MobileNetV2Features: a range of ``features``
            a, b = enc._bounds[i]
            names = [
                f"encoder.features.{k}.{n}" if n else f"encoder.features.{k}"
                for k in range(a, b)
                for n, m in enc.features[k].named_modules()
                if isinstance(m, nn.Conv2d)
            ]
        convs.append(names[-1])
    return convs


def _ignored(model: Real3DVisionNet) -> tuple[list[nn.Module], list[tuple[nn.Parameter, int]]]:
    """Layers whose outputs keep their width (class heads, attention query/key/value) and
    the parameters held outside a layer, with the dimension their channels run along."""
    from real3d.nn.fusion import CrossModalAttention

    ignored: list[nn.Module] = [model.decoder.coarse_head, model.decoder.refine_head]
    unwrapped: list[tuple[nn.Parameter, int]] = []
    for f in model.fusions.values():
        if isinstance(f, CrossModalAttention):
            ignored += [f.q, f.k, f.v]
            unwrapped.append((f.gate, 1))
    return ignored, unwrapped


def _example_inputs(model: Real3DVisionNet, size_hw: tuple[int, int]) -> tuple:
    cfg = model.config
    rgb = torch.rand(1, 3, *size_hw) if cfg.uses_rgb else None
    depth = torch.rand(1, 1, *size_hw) * 5 + 0.5 if cfg.uses_depth else None
    return rgb, depth


def _forward(model: nn.Module, inputs: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    return model(inputs[0], inputs[1], head="both")


def _output_sum(out: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return out[0].sum() + out[1].sum()


def _taylor_gradients(model: Real3DVisionNet, batches: Sequence[dict]) -> None:
    """Accumulate the gradients of the segmentation loss (cross-entropy, void ignored) over
    ``batches`` into the parameters' ``.grad`` (eval-mode BatchNorm: statistics unchanged)."""
    model.zero_grad(set_to_none=True)
    cfg = model.config
    for b in batches:
        rgb = b["rgb"] if cfg.uses_rgb else None
        depth = b["depth_m"] if cfg.uses_depth else None
        logits = model(rgb, depth, head="refined")
        target = b["labels"].long() - 1  # void -> -1, ignored
        if bool((target >= 0).any()):
            F.cross_entropy(logits, target, ignore_index=-1).backward()


def batches_from_samples(samples, n: int = 8, batch_size: int = 4) -> list[dict]:
    """The batches ``prune_to_macs(importance="taylor")`` takes, from the first ``n`` samples
    of a training dataset (``real3d.train.data``: ``rgb`` (3, H, W) uint8, ``depth_m``
    (1, H, W) float metres, ``labels`` (H, W) int, all of one size), centre-cropped to sides
    that are multiples of 16. InputError for fewer than one sample or mixed sizes."""
    if not is_int(n, 1) or not is_int(batch_size, 1):
        raise ConfigError(f"batches_from_samples: expected n, batch_size >= 1, got {n!r}, {batch_size!r}")
    items = [samples[i] for i in range(min(n, len(samples)))]
    if not items:
        raise InputError("batches_from_samples: the dataset holds no samples")
    h, w = items[0]["labels"].shape[-2:]
    if any(tuple(s["labels"].shape[-2:]) != (h, w) for s in items):
        raise InputError("batches_from_samples: expected samples of one size")
    ch, cw = h - h % 16, w - w % 16
    if not ch or not cw:
        raise InputError(f"batches_from_samples: samples of {h}x{w} are smaller than 16x16")
    y, x = (h - ch) // 2, (w - cw) // 2
    out = []
    for a in range(0, len(items), batch_size):
        part = items[a : a + batch_size]

        def stack(key, part=part):
            return torch.stack([torch.as_tensor(s[key])[..., y : y + ch, x : x + cw] for s in part])

        rgb = stack("rgb")
        out.append(
            {
                "rgb": rgb.float() / 255.0 if rgb.dtype == torch.uint8 else rgb.float(),
                "depth_m": stack("depth_m").float().reshape(len(part), 1, ch, cw),
                "labels": stack("labels").long(),
            }
        )
    return out


def _check_batches(batches) -> list[dict]:
    if batches is None:
        raise ConfigError("prune_to_macs: importance 'taylor' needs labelled batches (rgb, depth_m, labels)")
    out = list(batches)
    if not out:
        raise ConfigError("prune_to_macs: importance 'taylor' needs at least one batch, got none")
    for i, b in enumerate(out):
        if not isinstance(b, dict) or "labels" not in b or "rgb" not in b or "depth_m" not in b:
            got = sorted(b) if isinstance(b, dict) else type(b).__name__
            raise InputError(f"prune_to_macs: batch {i}: expected a dict with rgb, depth_m, labels, got {got}")
        lab = b["labels"]
        if not isinstance(lab, torch.Tensor) or lab.ndim != 3:
            raise InputError(f"prune_to_macs: batch {i}: expected labels (B, H, W), got {getattr(lab, 'shape', lab)!r}")
    return out


def prune_to_macs(
    model: Real3DVisionNet,
    target_macs: float,
    size_hw: tuple[int, int] = (224, 288),
    importance: str = "l1",
    batches: Iterable[dict] | None = None,
    round_to: int = 8,
    step_fraction: float = 0.01,
    name: str | None = None,
) -> PruneResult:
    """Prune ``model``'s channels until a forward pass at ``size_hw`` costs <= ``target_macs``.

    Args:
        model: the network to prune; it is not changed (a copy is pruned).
        target_macs: the budget, multiply-accumulates of one forward pass (refined head) at
            ``size_hw``, e.g. ``count_macs(build_model("rgbd-small"), size_hw)``.
        size_hw: (H, W) input size of the count, multiples of 16.
        importance: ``"l1"``, ``"l2"`` (weight magnitude) or ``"taylor"`` (needs ``batches``).
        batches: for ``"taylor"``: dicts with ``rgb`` (B, 3, H, W) float in [0, 1],
            ``depth_m`` (B, 1, H, W) float metres (0 = invalid) and ``labels`` (B, H, W)
            int NYUv2-13 ids (0 = void), H and W multiples of 16; a few suffice.
        round_to: every pruned width is a multiple of this (1: any width).
        step_fraction: each step removes this fraction of every layer's original width
            (before rounding); smaller steps land closer to the budget.
        name: the pruned config's name (default ``<source name>-pruned``).

    Returns:
        A ``PruneResult``: the pruned network, the channels it kept and its figures.

    Raises:
        ConfigError: a budget that is not a finite number > 0, at or above the model's MACs
            (nothing to prune) or below what pruning ``MAX_RATIO`` of every layer reaches;
            an unknown importance (the message lists the valid ones); ``"taylor"``
            without batches; torch-pruning missing (the message names the extra).
        InputError: a ``size_hw`` that is not two multiples of 16, or malformed batches.
    """
    if not isinstance(model, Real3DVisionNet):
        raise InputError(f"prune_to_macs: expected a Real3DVisionNet, got {type(model).__name__}")
    if importance not in IMPORTANCES:
        raise ConfigError(f"prune_to_macs: unknown importance {importance!r}; valid: {', '.join(IMPORTANCES)}")
    if (
        isinstance(target_macs, bool)
        or not isinstance(target_macs, (int, float))
        or not math.isfinite(target_macs)
        or target_macs <= 0
    ):
        raise ConfigError(f"prune_to_macs: expected a MAC budget > 0, got {target_macs!r}")
    hw = tuple(size_hw) if isinstance(size_hw, (tuple, list)) else ()
    if len(hw) != 2 or not all(is_int(v, 16) and v % 16 == 0 for v in hw):
        raise InputError(f"prune_to_macs: expected size_hw (H, W), multiples of 16, got {size_hw!r}")
    if not is_int(round_to, 1, 256):
        raise ConfigError(f"prune_to_macs: round_to: expected an integer in 1..256, got {round_to!r}")
    if not (isinstance(step_fraction, (int, float)) and 0 < step_fraction <= MAX_RATIO):
        raise ConfigError(f"prune_to_macs: step_fraction: expected a value in (0, {MAX_RATIO}], got {step_fraction!r}")
    data = _check_batches(batches) if importance == "taylor" else None
    tp = _torch_pruning()

    source = model
    macs_before = count_macs(source, hw)
    if target_macs >= macs_before:
        raise ConfigError(
            f"prune_to_macs: the budget {target_macs / 1e9:.3f} GMAC is not below {source.config.name}'s "
            f"{macs_before / 1e9:.3f} GMAC at {hw[0]}x{hw[1]}: nothing to prune"
        )
    total_steps = max(1, math.ceil(MAX_RATIO / step_fraction))
    run = _Run(tp, source, hw, importance, round_to, total_steps, data)
    macs = macs_before
    while macs > target_macs:
        if run.steps >= total_steps:
            raise ConfigError(
                f"prune_to_macs: the budget {target_macs / 1e9:.4f} GMAC is unreachable: {macs / 1e9:.4f} GMAC "
                f"after pruning {MAX_RATIO:.0%} of every layer"
            )
        macs = run.step()
    if macs < (1.0 - OVERSHOOT) * target_macs:
        # the last step took every layer down at once (widths fall by whole multiples of
        # round_to) and went well below the budget: take it again, one channel group at a
        # time, stopping as soon as the budget is met
        steps = run.steps
        run = _Run(tp, source, hw, importance, round_to, total_steps, data)
        for _ in range(steps - 1):
            run.step()
        macs = run.step(stop_at=target_macs)
    work, kept = run.work, run.kept
    work.zero_grad(set_to_none=True)
    macs = count_macs(work, hw)  # the project's count is the figure reported
    if macs > target_macs:
        raise RuntimeError(f"prune_to_macs: count_macs gives {macs} MACs, the layer count {run.macs} (budget met)")

    pruned = _rebuild(work, source, name or f"{source.config.name}-pruned")
    for n, m in pruned.named_modules():  # the record must describe the network it came with
        if n in kept and len(kept[n]) != _out_channels(m):
            raise RuntimeError(f"prune_to_macs: channel record of {n} ({len(kept[n])}) != {_out_channels(m)}")
    src_modules = dict(source.named_modules())
    record = {n: tuple(k) for n, k in kept.items() if len(k) != _out_channels(src_modules[n])}
    stage_convs = stage_output_modules(source)
    features = tuple(tuple(kept[c]) for c in stage_convs)
    return PruneResult(
        model=pruned.eval(),
        kept=record,
        feature_channels=features,
        size_hw=hw,
        target_macs=int(target_macs),
        macs_before=macs_before,
        macs_after=macs,
        params_before=_num_params(source),
        params_after=_num_params(pruned),
        steps=run.steps,
        importance=importance,
    )


def fast_macs(model: Real3DVisionNet, size_hw: tuple[int, int]) -> int:
    """Multiply-accumulates of one forward pass (refined head) at ``size_hw``, counted from
    the layers' shapes during the pass: what ``count_macs`` counts (convolutions and the
    attention's matrix products), without its per-operation dispatch cost."""
    from real3d.nn.fusion import CrossModalAttention

    total = [0]

    def conv(m, args, out):
        total[0] += out.numel() * m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]

    def attn(m, args, out):
        b, _, h, w = args[0].shape
        total[0] += 2 * b * m.heads * m.head_dim * m.head_dim * h * w  # k v^T and (k v^T)^T q

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, CrossModalAttention):
            hooks.append(m.register_forward_hook(attn))
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*_example_inputs(model, size_hw), head="refined")
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return int(total[0])


class _MacCounter:
    """``fast_macs`` without a forward pass: pruning changes channel counts, never the maps'
    sizes, so the output size of every convolution (and each attention block's pixel count)
    is recorded once and the MACs are summed from the layers' current shapes."""

    def __init__(self, model: Real3DVisionNet, hw: tuple[int, int]) -> None:
        from real3d.nn.fusion import CrossModalAttention

        self.pixels: dict[str, int] = {}
        hooks = []
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                hooks.append(
                    m.register_forward_hook(lambda m, a, out, n=name: self.pixels.__setitem__(n, out[0, 0].numel()))
                )
            elif isinstance(m, CrossModalAttention):
                hooks.append(
                    m.register_forward_hook(lambda m, a, out, n=name: self.pixels.__setitem__(n, a[0][0, 0].numel()))
                )
        try:
            with torch.no_grad():
                model.eval()(*_example_inputs(model, hw), head="refined")
        finally:
            for h in hooks:
                h.remove()

    def __call__(self, model: nn.Module) -> int:
        from real3d.nn.fusion import CrossModalAttention

        total = 0
        for name, m in model.named_modules():
            if name not in self.pixels:
                continue
            if isinstance(m, nn.Conv2d):
                total += self.pixels[name] * m.out_channels * m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
            elif isinstance(m, CrossModalAttention):
                total += 2 * m.heads * m.head_dim * m.head_dim * self.pixels[name]
        return int(total)


class _Run:
    """One pruning run: a copy of ``source``, its pruner and the record of kept channels."""

    def __init__(self, tp, source, hw, importance, round_to, total_steps, data) -> None:
        self.work = copy.deepcopy(source).eval()
        self.work.requires_grad_(True)
        self.hw, self.data = hw, data
        self.pruner = _pruner(tp, self.work, hw, importance, round_to, total_steps)
        self.kept = {n: list(range(_out_channels(m))) for n, m in self.work.named_modules() if _out_channels(m)}
        self.names = {m: n for n, m in self.work.named_modules()}
        self.steps = 0
        self.macs = -1
        self.count = _MacCounter(self.work, hw)

    def step(self, stop_at: float | None = None) -> int:
        """One pruning step; returns the MACs after it. With ``stop_at``, the step's channel
        groups are pruned one at a time and the step ends once the MACs are <= ``stop_at``."""
        if self.data is not None:
            _taylor_gradients(self.work, self.data)
        self.steps += 1
        for group in self.pruner.step(interactive=True):
            _record(group, self.pruner.DG, self.names, self.kept)
            group.prune()
            if stop_at is not None and self.count(self.work) <= stop_at:
                break
        self.macs = self.count(self.work)
        return self.macs


def _out_channels(m: nn.Module) -> int:
    """Output channels of a Conv2d or BatchNorm2d (0 for any other module)."""
    if isinstance(m, nn.Conv2d):
        return m.out_channels
    if isinstance(m, nn.BatchNorm2d):
        return m.num_features
    return 0


def _pruner(tp, model: Real3DVisionNet, hw: tuple[int, int], importance: str, round_to: int, steps: int):
    """A torch-pruning MetaPruner over ``model``: uniform ratio per layer, growing linearly
    to ``MAX_RATIO`` over ``steps`` steps."""
    imp = {
        "l1": lambda: tp.importance.MagnitudeImportance(p=1),
        "l2": lambda: tp.importance.MagnitudeImportance(p=2),
        "taylor": lambda: tp.importance.TaylorImportance(),
    }[importance]()
    ignored, unwrapped = _ignored(model)
    return tp.pruner.MetaPruner(
        model,
        _example_inputs(model, hw),
        importance=imp,
        pruning_ratio=MAX_RATIO,
        iterative_steps=steps,
        ignored_layers=ignored,
        unwrapped_parameters=unwrapped,
        round_to=round_to if round_to > 1 else None,
        forward_fn=_forward,
        output_transform=_output_sum,
    )


def _record(group, graph, names: dict, kept: dict[str, list[int]]) -> None:
    """Remove the output channels ``group`` is about to prune from ``kept`` (module path ->
    source indices of the channels still there)."""
    done = set()
    for dep, idxs in group:
        module = dep.target.module
        n = names.get(module)
        if n not in kept or n in done or not graph.is_out_channel_pruning_fn(dep.handler):
            continue
        done.add(n)
        # an index is a plain int or torch-pruning's (idx, root_idx) pair
        drop = {int(getattr(i, "idx", i)) for i in idxs}
        kept[n] = [c for j, c in enumerate(kept[n]) if j not in drop]


def _rebuild(work: nn.Module, source: Real3DVisionNet, name: str) -> Real3DVisionNet:
    """A plain ``Real3DVisionNet`` with the pruned widths (``SegNetConfig.channel_widths``,
    relative to the source's nominal widths) and the pruned weights."""
    base = Real3DVisionNet(replace(source.config, channel_widths=()))
    nominal = {n: _io(m) for n, m in base.named_modules() if _io(m)}
    widths = tuple((n, *_io(m)) for n, m in work.named_modules() if _io(m) and _io(m) != nominal.get(n))
    pruned = Real3DVisionNet(replace(source.config, name=name, channel_widths=widths))
    pruned.load_state_dict(work.state_dict())
    return pruned


def _io(m: nn.Module) -> tuple[int, int] | None:
    if isinstance(m, nn.Conv2d):
        return m.in_channels, m.out_channels
    if isinstance(m, nn.BatchNorm2d):
        return m.num_features, m.num_features
    return None
