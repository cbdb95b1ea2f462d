"""ONNX export of sparse networks whose kernel maps are computed outside the graph.

Kernel-map construction (sorting, searching, ``unique``) stays in Python/torch; the
exported graph takes the site features and one neighbour table per map
(``KernelMap.neighbour_table``: (N_out, K) int64, ``N_in`` = no neighbour) and runs only
Concat, Gather, Reshape and MatMul (plus BatchNorm, ReLU and the head), which every
onnxruntime provider supports. The number of sites at each level is a dynamic axis.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from real3d.sparse.tensor import SparseTensor
from real3d.sparse.unet import SparseUNet


class ExportableSparseUNet(nn.Module):
    """``SparseUNet`` with precomputed tables as inputs: (feats, *tables) -> (N, num_classes) logits.

    Args:
        net: the network to wrap (parameters shared, use it in eval mode).
    """

    def __init__(self, net: SparseUNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, feats: torch.Tensor, *tables: torch.Tensor) -> torch.Tensor:
        return self.net.forward_tables(feats, *tables)

    def input_names(self) -> list[str]:
        n = self.net.levels
        return (
            ["feats"]
            + [f"subm{i}" for i in range(n)]
            + [f"down{i}" for i in range(n - 1)]
            + [f"up{i}" for i in range(n - 1)]
        )

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """Site count of level l is ``sites{l}``: rows of subm{l}, down{l-1} and up{l}."""
        n = self.net.levels
        axes = {"feats": {0: "sites0"}, "logits": {0: "sites0"}}
        for level in range(n):
            axes[f"subm{level}"] = {0: f"sites{level}"}
        for level in range(n - 1):
            axes[f"down{level}"] = {0: f"sites{level + 1}"}
            axes[f"up{level}"] = {0: f"sites{level}"}
        return axes


def export_sparse_unet(net: SparseUNet, example: SparseTensor, path: str | os.PathLike, opset: int = 17) -> Path:
    """Write ``net`` (eval mode) to an ONNX file, tracing it on the sites of ``example``.

    Args:
        net: trained network; it is put in eval mode.
        example: stride-1 input with ``net.config.in_channels`` channels.
        path: output .onnx file.
        opset: ONNX opset.

    Returns:
        The path written. At inference, feed ``feats`` and ``net.kernel_tables(x)`` in the
        order of ``ExportableSparseUNet.input_names()``.
    """
    # The exporter restores the wrapper's training flag recursively afterwards, so the
    # wrapper itself must be in eval mode for the network to stay there.
    wrapper = ExportableSparseUNet(net).eval()
    tables = net.kernel_tables(example)
    path = Path(path)
    torch.onnx.export(
        wrapper,
        (example.feats, *tables),
        str(path),
        input_names=wrapper.input_names(),
        output_names=["logits"],
        dynamic_axes=wrapper.dynamic_axes(),
        opset_version=opset,
        dynamo=False,
    )
    return path
