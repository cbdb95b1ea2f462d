"""Training checkpoints: tensors in safetensors, everything else in JSON. No pickle.

``<stem>.safetensors`` holds ``model.<name>`` (parameters and buffers) and
``optim.<param index>.<state name>`` tensors; ``<stem>.json`` holds the step, the optimizer's
hyper-parameters, the class weights, the RNG states (torch as base64 bytes, numpy and
Python as lists) and any extra fields.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from real3d.core.errors import FormatError
from real3d.core.files import atomic_write_files
from real3d.models.cards import bytes_sha256, parse_card, verify_weights


def _rng_state() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def _set_rng_state(s: dict) -> None:
    torch.set_rng_state(torch.from_numpy(np.frombuffer(base64.b64decode(s["torch"]), dtype=np.uint8).copy()))
    n = s["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = s["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def save_checkpoint(
    path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, extra: dict | None = None
) -> Path:
    """Write ``path``.safetensors + ``path``.json atomically (temp files, then rename)."""
    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for pid, st in opt["state"].items():
        for name, val in st.items():
            t = val if isinstance(val, torch.Tensor) else torch.tensor(val)
            tensors[f"optim.{pid}.{name}"] = t.detach().contiguous().cpu()
    meta = {
        "step": int(step),
        "param_groups": opt["param_groups"],
        "rng": _rng_state(),
        **(extra or {}),
    }
    blob = save(tensors)
    meta["sha256"] = bytes_sha256(blob)  # checked by load_checkpoint
    atomic_write_files({path.with_suffix(".safetensors"): blob, path.with_suffix(".json"): json.dumps(meta)})
    return path.with_suffix(".safetensors")


def load_checkpoint(
    path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None, restore_rng: bool = True
) -> dict:
    """Restore model (and optimizer, RNG states) in place; returns the JSON metadata.

    Raises:
        FormatError: missing, corrupt or altered files (the tensors are checked against the
            sha256 the metadata records, when it records one) or ones that do not fit."""
    path = Path(path).with_suffix("")
    st_path, js_path = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not st_path.is_file() or not js_path.is_file():
        raise FormatError(f"checkpoint: expected {st_path} and {js_path}")
    meta = parse_card(js_path.read_bytes(), js_path)
    if "sha256" in meta:
        verify_weights(st_path, meta, "checkpoint")
    try:
        tensors = load_file(str(st_path))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if optimizer is not None:
            state: dict = {}
            for k, v in tensors.items():
                if k.startswith("optim."):
                    _, pid, name = k.split(".", 2)
                    state.setdefault(int(pid), {})[name] = v
            optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        if restore_rng and "rng" in meta:
            _set_rng_state(meta["rng"])
    except (SafetensorError, KeyError, TypeError, ValueError, RuntimeError, OSError) as e:
        raise FormatError(
            f"checkpoint: {st_path} and {js_path} cannot be restored ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); remove them or train with --fresh"
        ) from None
    return meta
