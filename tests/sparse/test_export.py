import numpy as np
import pytest
import torch

from real3d.sparse import SparseTensor
from real3d.sparse.export import ExportableSparseUNet, export_sparse_unet
from real3d.sparse.unet import SparseUNet, SparseUNetConfig

ort = pytest.importorskip("onnxruntime")


def _cloud(seed: int, n: int) -> SparseTensor:
    g = torch.Generator().manual_seed(seed)
    xyz = torch.randint(-10, 10, (n, 3), generator=g)
    coords = torch.cat((torch.zeros(n, 1, dtype=torch.int64), xyz), 1).to(torch.int32)
    return SparseTensor.from_coords(coords, torch.randn(n, 3, generator=g))


def test_onnxruntime_matches_torch_on_new_sites(tmp_path):
    torch.manual_seed(0)
    net = SparseUNet(SparseUNetConfig(in_channels=3, num_classes=5, channels=(8, 16, 16)))
    net.train()
    for _ in range(2):  # move the BatchNorm statistics away from their defaults
        net(_cloud(1, 800))
    path = export_sparse_unet(net, _cloud(2, 600), tmp_path / "sparse_unet.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = ExportableSparseUNet(net).input_names()
    assert [i.name for i in session.get_inputs()] == names
    # Different sites (and site counts) than at export time.
    assert not any(m.training for m in net.modules())
    x = _cloud(3, 1500)
    with torch.no_grad():
        ref = net(x).numpy()
    tables = net.kernel_tables(SparseTensor(x.coords, x.feats))
    feeds = dict(zip(names, [x.feats.numpy()] + [t.numpy() for t in tables]))
    (got,) = session.run(["logits"], feeds)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
