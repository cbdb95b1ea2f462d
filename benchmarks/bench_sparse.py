"""Time real3d.sparse on a room-sized voxel surface, with spconv as the baseline when installed.

A MinkUNet-like stack (``SparseUNet``: submanifold, stride-2 and transposed convs, BN,
ReLU, skips) runs forward and forward+backward on the voxelised surfaces of a synthetic
room (floor, four walls, furniture boxes), at 1 and 2 torch threads; each repeat starts
from a fresh input tensor, so kernel-map construction is part of every forward, as it is
for spconv. Medians over ``--repeats``.

When ``spconv`` imports, the same network is built in spconv with our weights and
checked against ours (outputs and input gradients, max abs difference) at each thread
count, then timed the same way. spconv's CPU backward calls ``torch.cuda`` for a stream
handle; the script replaces that lookup in spconv's ops module for this process only.

    PYTHONPATH=src python benchmarks/bench_sparse.py [--voxel 0.03] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from real3d.sparse import SparseTensor
from real3d.sparse.kernel_map import build_downsample_map, build_submanifold_map
from real3d.sparse.unet import SparseUNet, SparseUNetConfig
from real3d.sparse.voxel import voxelize


def room_points(voxel_m: float) -> torch.Tensor:
    """(N, 3) points (world metres, z up) covering a 6 x 5 x 2.6 m room's floor, walls and boxes."""
    step = voxel_m / 2.0

    def rect(origin, u, v):
        o, u, v = (torch.tensor(a, dtype=torch.float64) for a in (origin, u, v))
        nu, nv = int(u.norm() / step) + 1, int(v.norm() / step) + 1
        s = torch.linspace(0, 1, nu, dtype=torch.float64)
        t = torch.linspace(0, 1, nv, dtype=torch.float64)
        return (o + s[:, None, None] * u + t[None, :, None] * v).reshape(-1, 3)

    w, d, h = 6.0, 5.0, 2.6
    parts = [
        rect((0, 0, 0), (w, 0, 0), (0, d, 0)),
        rect((0, 0, 0), (w, 0, 0), (0, 0, h)),
        rect((0, d, 0), (w, 0, 0), (0, 0, h)),
        rect((0, 0, 0), (0, d, 0), (0, 0, h)),
        rect((w, 0, 0), (0, d, 0), (0, 0, h)),
    ]
    boxes = [
        ((0.5, 0.5), (1.6, 0.8, 0.75)),
        ((3.0, 2.0), (1.2, 1.2, 0.72)),
        ((4.8, 0.3), (1.0, 0.5, 1.9)),
        ((0.4, 3.6), (2.0, 0.9, 0.45)),
        ((3.3, 3.9), (0.5, 0.5, 0.9)),
    ]
    for (x, y), (sx, sy, sz) in boxes:
        parts += [
            rect((x, y, sz), (sx, 0, 0), (0, sy, 0)),
            rect((x, y, 0), (sx, 0, 0), (0, 0, sz)),
            rect((x, y + sy, 0), (sx, 0, 0), (0, 0, sz)),
            rect((x, y, 0), (0, sy, 0), (0, 0, sz)),
            rect((x + sx, y, 0), (0, sy, 0), (0, 0, sz)),
        ]
    return torch.cat(parts).float()


def machine() -> str:
    model, avx512 = platform.processor() or "unknown CPU", False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    avx512 = "avx512f" in line.split()
    except OSError:
        pass
    return f"{model}, AVX-512 {'yes' if avx512 else 'no'}, torch {torch.__version__}"


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def build_spconv(net: SparseUNet, spconv):
    """The same network in spconv, sharing ``net``'s weights (copied into spconv's layout)."""
    from torch import nn

    def conv(mine, kind, key):
        cin, cout = mine.weight.shape[1:]
        if kind == "subm":
            m = spconv.SubMConv3d(cin, cout, net.config.kernel_size, bias=False, indice_key=key)
        elif kind == "down":
            m = spconv.SparseConv3d(cin, cout, 2, 2, bias=False, indice_key=key)
        else:
            m = spconv.SparseInverseConv3d(cin, cout, 2, bias=False, indice_key=key)
        k = round(mine.weight.shape[0] ** (1 / 3))
        with torch.no_grad():  # ours (K, C_in, C_out) -> spconv (C_out, k, k, k, C_in)
            m.weight.copy_(mine.weight.reshape(k, k, k, cin, cout).permute(4, 0, 1, 2, 3))
        return m

    def block(mine, kind, key):
        bn = nn.BatchNorm1d(mine.norm.num_features)
        bn.load_state_dict(mine.norm.state_dict())
        return spconv.SparseSequential(conv(mine.conv, kind, key), bn, nn.ReLU())

    class SpconvUNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            n = net.levels
            self.stem = nn.ModuleList([block(b, "subm", "subm0") for b in net.stem])
            self.down = nn.ModuleList([block(net.down[i], "down", f"down{i}") for i in range(n - 1)])
            self.down_refine = nn.ModuleList([block(net.down_refine[i], "subm", f"subm{i + 1}") for i in range(n - 1)])
            self.up = nn.ModuleList([block(net.up[i], "up", f"down{i}") for i in range(n - 1)])
            self.up_refine = nn.ModuleList([block(net.up_refine[i], "subm", f"subm{i}") for i in range(n - 1)])
            self.head = net.head

        def forward(self, x):
            for b in self.stem:
                x = b(x)
            skips = []
            for down, refine in zip(self.down, self.down_refine):
                skips.append(x)
                x = refine(down(x))
            for level in reversed(range(len(self.up))):
                x = self.up[level](x)
                x = x.replace_feature(torch.cat((x.features, skips[level].features), dim=1))
                x = self.up_refine[level](x)
            return self.head(x.features)

    return SpconvUNet()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voxel", type=float, default=0.03, help="voxel edge in metres")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--channels", type=int, nargs="+", default=[16, 32, 64])
    args = ap.parse_args()

    points = room_points(args.voxel)
    base, _ = voxelize(points, torch.ones(points.shape[0], 1), args.voxel)
    g = torch.Generator().manual_seed(0)
    feats = torch.cat((base.coords[:, 1:].float() * args.voxel / 3.0, torch.rand(base.num_sites, 1, generator=g)), 1)
    coords = base.coords
    torch.manual_seed(0)
    net = SparseUNet(SparseUNetConfig(in_channels=4, num_classes=14, channels=tuple(args.channels)))
    net.train()
    print(f"host: {machine()}")
    print(
        f"scene: {base.num_sites} voxels of {args.voxel} m, channels {tuple(args.channels)}, "
        f"{args.repeats} repeats (median)"
    )

    def ours_forward(grad: bool):
        f = feats.clone().requires_grad_(grad)
        out = net(SparseTensor(coords, f, _keys=base.keys))
        if grad:
            out.square().mean().backward()
        return out, f

    try:
        import spconv.pytorch as spconv
        import spconv.pytorch.ops as spconv_ops

        spconv_ops.get_current_stream = lambda: 0  # CPU: no CUDA stream to ask torch for
        import spconv as spconv_pkg

        spconv_version = spconv_pkg.__version__
    except ImportError:
        spconv = None
    if spconv is not None:
        sp_net = build_spconv(net, spconv).train()
        # spconv wants non-negative indices; an even shift keeps floor(xyz / 2) aligned.
        shift = torch.div(coords[:, 1:].amin(dim=0), 2, rounding_mode="floor") * 2
        sp_coords = torch.cat((coords[:, :1], coords[:, 1:] - shift), 1).contiguous()
        # spconv's strided output grid is floor((shape - 2) / 2) + 1 cells: an extent that is
        # not a multiple of 2**levels would silently drop the last row of coarse sites.
        mult = 2 ** (net.levels - 1)
        shape = ((sp_coords[:, 1:].amax(dim=0) // mult + 1) * mult).tolist()

        def sp_forward(grad: bool):
            f = feats.clone().requires_grad_(grad)
            out = sp_net(spconv.SparseConvTensor(f, sp_coords, shape, 1))
            if grad:
                out.square().mean().backward()
            return out, f

    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        keys = base.keys
        t_map = median_ms(lambda: (build_submanifold_map(keys), build_downsample_map(coords)), args.repeats)
        t_fwd = median_ms(lambda: ours_forward(False), args.repeats)
        t_bwd = median_ms(lambda: ours_forward(True), args.repeats)
        rows.append(("real3d.sparse", threads, t_fwd, t_bwd, f"stride-1 maps {t_map:.0f} ms"))
        if spconv is not None:
            s_fwd = median_ms(lambda: sp_forward(False), args.repeats)
            s_bwd = median_ms(lambda: sp_forward(True), args.repeats)
            ours_out, ours_f = ours_forward(True)
            sp_out, sp_f = sp_forward(True)
            d_out = float((ours_out - sp_out).abs().max().detach())
            d_grad = float((ours_f.grad - sp_f.grad).abs().max())
            g_scale = float(ours_f.grad.abs().max())
            scale = float(ours_out.abs().max().detach())
            rows.append(
                (
                    f"spconv {spconv_version}",
                    threads,
                    s_fwd,
                    s_bwd,
                    f"max diff to ours: output {d_out:.1e} (max |output| {scale:.1f}), "
                    f"input grad {d_grad:.1e} (max {g_scale:.1e})",
                )
            )
    print()
    print("| backend | threads | forward ms | forward+backward ms | notes |")
    print("|---|---|---|---|---|")
    for name, th, f, b, note in rows:
        print(f"| {name} | {th} | {f:.0f} | {b:.0f} | {note} |")


if __name__ == "__main__":
    main()
