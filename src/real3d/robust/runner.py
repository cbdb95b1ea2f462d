"""Score a segmentation model on held-out frames under corruptions (``evaluate_robustness``)
and write the tables (``robustness_report``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from real3d.core.errors import InputError
from real3d.core.frame import Frame
from real3d.robust.corruptions import check_severity, corrupt, parse_corruptions
from real3d.robust.metrics import RobustnessTable


def _frames(data, max_samples: int | None):
    """(number of frames, frame i -> Frame) for a spec string, a Dataset of samples, or a
    sequence of Frames."""
    if isinstance(data, str):
        from real3d.train.data import open_data

        data = open_data(data)
    n = len(data) if max_samples is None else min(len(data), max_samples)
    if n < 1:
        raise InputError(
            f"evaluate_robustness: no frames to evaluate (data has {len(data)}, max_samples={max_samples})"
        )

    def get(i: int) -> Frame:
        item = data[i]
        if isinstance(item, Frame):
            return item
        from real3d.eval.segmentation import sample_to_frame

        return sample_to_frame(item, i)

    return n, get


def evaluate_robustness(
    model,
    data,
    corruptions: Sequence[str] | str = "all",
    severities: Sequence[int] = (3, 5),
    head: str = "refined",
    max_samples: int | None = None,
    seed: int = 0,
    model_name: str = "",
    data_name: str | None = None,
    progress: bool = False,
) -> RobustnessTable:
    """Run ``model.predict`` on each frame clean and under every corruption and severity.

    Labelled frames are scored by mIoU against their labels (moved with the image by the
    geometric corruptions); frames without labels (or with only void labels) by agreement: mIoU of the corrupted
    prediction against the model's own clean prediction (moved the same way), whose clean
    score is 1. Confusions are summed over all frames before the mIoU is taken.

    Args:
        model: anything with ``predict(frame, head=...) -> SegmentationResult``.
        data: a data spec string (``real3d.train.data``), a Dataset of samples, or a
            sequence of Frames.
        corruptions: names of ``CORRUPTIONS``, or a comma-separated string of names,
            groups (``rgb``, ``depth``, ``geometry``) or ``all``.
        severities: severities in 1..5.
        head: ``"refined"`` or ``"coarse"``.
        max_samples: score only the first N frames.
        seed: corruption seed (with each frame's index).
        model_name, data_name: recorded in the table.
        progress: show a progress bar.

    Raises:
        ConfigError: an unknown corruption. InputError: a bad severity, no frames, a mix
        of labelled and unlabelled frames, or a depth corruption on a frame without depth.
    """
    from real3d.eval.metrics import confusion_matrix, metrics_from_confusion

    names = parse_corruptions(corruptions) if isinstance(corruptions, str) else parse_corruptions(",".join(corruptions))
    if isinstance(severities, (int, str)) or not len(severities):
        raise InputError(f"evaluate_robustness: expected a sequence of severities in 1..5, got {severities!r}")
    sevs = tuple(dict.fromkeys(check_severity(s, "evaluate_robustness: severities") for s in severities))
    n, get = _frames(data, max_samples)
    clean_conf = None
    conf: dict[tuple[str, int], np.ndarray] = {}
    labelled = None
    it = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="robustness", unit="frame")
    for i in it:
        frame = get(i)
        # a sample of a frame without labels carries all-void labels
        has = frame.labels is not None and bool(frame.labels.any())
        if labelled is None:
            labelled = has
        elif has != labelled:
            raise InputError(f"evaluate_robustness: frame {i} {'has' if has else 'lacks'} labels, frame 0 does not")
        clean = model.predict(frame, head=head).labels
        if not labelled:
            frame = frame.replace(labels=clean)
        c = confusion_matrix(clean, frame.labels)
        clean_conf = c if clean_conf is None else clean_conf + c
        for name in names:
            for s in sevs:
                bad = corrupt(frame, name, s, seed)
                c = confusion_matrix(model.predict(bad, head=head).labels, bad.labels)
                conf[name, s] = c if (name, s) not in conf else conf[name, s] + c

    def miou(c: np.ndarray) -> float:
        v = metrics_from_confusion(c).miou
        return 0.0 if np.isnan(v) else v

    return RobustnessTable(
        model=model_name,
        metric="miou" if labelled else "agreement",
        clean=miou(clean_conf),
        scores={name: {s: miou(conf[name, s]) for s in sevs} for name in names},
        frames=n,
        data=data_name if data_name is not None else (data if isinstance(data, str) else type(data).__name__),
        extra={"seed": int(seed), "head": head},
    )


def _pct(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def robustness_report(tables: Sequence[RobustnessTable], reference: RobustnessTable | None = None) -> tuple[dict, str]:
    """(JSON-ready dict, Markdown text) of several models' tables on the same frames.

    The Markdown has a summary (clean score, mCE against ``reference``, mRR) and, per
    corruption, each model's score at each severity, its RR and its CE.
    """
    if not tables:
        raise InputError("robustness_report: expected one or more tables, got none")
    dicts = [t.to_dict(reference) for t in tables]
    metric = "mIoU" if tables[0].metric == "miou" else "agreement with the clean prediction (mIoU)"
    ref = f" (CE against {reference.model})" if reference is not None else ""
    lines = [
        f"Data: {tables[0].data}, {tables[0].frames} frames; score: {metric}, in %{ref}.",
        "",
        "| model | clean | mCE | mRR % |",
        "|---|---:|---:|---:|",
    ]
    for d in dicts:
        mce = "-" if d.get("mce") is None else f"{d['mce']:.3f}"
        lines.append(f"| {d['model']} | {d['clean']:.1f} | {mce} | {_pct(d['mrr'])} |")
    sevs = list(tables[0].scores[next(iter(tables[0].scores))]) if tables[0].scores else []
    head = ["corruption"]
    for d in dicts:
        head += [f"{d['model']} s{s}" for s in sevs] + [f"{d['model']} RR %"] + (["CE"] if "ce" in d else [])
    lines += ["", "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for c in tables[0].scores:
        row = [c]
        for d in dicts:
            row += [_pct(d["scores"][c][str(s)]) for s in sevs] + [_pct(d["rr"].get(c))]
            if "ce" in d:
                row.append("-" if d["ce"].get(c) is None else f"{d['ce'][c]:.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return {"models": dicts}, "\n".join(lines) + "\n"
