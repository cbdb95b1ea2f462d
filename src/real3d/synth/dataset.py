"""A torch Dataset that renders synthetic frames on the fly."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from real3d.core.errors import InputError
from real3d.core.frame import Frame
from real3d.synth.render import RenderConfig, Renderer
from real3d.synth.scene import generate_scene
from real3d.synth.sequence import check_size, random_intrinsics
from real3d.synth.textures import TextureBank
from real3d.synth.trajectory import free_mask, random_viewpoint

DATASET_KINDS = ("home", "warehouse", "mixed")


class SynthDataset(Dataset):
    """Independent views of procedural scenes, rendered when indexed.

    Item ``i`` is deterministic: it depends only on (seed, i) and the arguments, whichever
    worker renders it. Consecutive indices share a scene (``frames_per_scene``), so the
    cost of building a scene is amortised; each worker keeps the current scene's renderer.
    With DataLoader workers, ``worker_batches`` orders the batches so that each scene is
    built by one worker only.

    Args:
        length: number of items.
        size_hw: (H, W) image size.
        kind: ``"home"``, ``"warehouse"`` or ``"mixed"`` (3 homes to 1 warehouse).
        seed: selects the scenes: scene seed = seed * 1_000_003 + scene index, so datasets
            with different seeds (and fewer than a million scenes) share no scene.
        noise: camera effects and depth sensor noise.
        frames_per_scene: views rendered from one scene before moving to the next.

    Items are dicts of tensors: ``rgb`` uint8 (3, H, W); ``depth_m`` float32 (1, H, W)
    metres, 0 = invalid; ``labels`` int64 (H, W) NYUv2-13, 0 = void; ``intrinsics`` float32
    (4,) fx, fy, cx, cy in pixels.
    """

    def __init__(
        self,
        length: int,
        size_hw=(240, 320),
        kind: str = "mixed",
        seed: int = 0,
        noise: bool = True,
        frames_per_scene: int = 16,
        render_config: RenderConfig | None = None,
    ):
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise InputError(f"SynthDataset: expected length >= 1, got {length!r}")
        if kind not in DATASET_KINDS:
            raise InputError(f"SynthDataset: unknown kind {kind!r}; valid: {', '.join(DATASET_KINDS)}")
        if frames_per_scene < 1:
            raise InputError(f"SynthDataset: expected frames_per_scene >= 1, got {frames_per_scene}")
        self.length = int(length)
        self.size_hw = check_size(size_hw)
        self.kind = kind
        self.seed = int(seed)
        self.noise = bool(noise)
        self.frames_per_scene = int(frames_per_scene)
        self.render_config = render_config
        self._bank: TextureBank | None = None
        self._current: tuple[int, Renderer, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.length

    def scene_for(self, index: int) -> tuple[int, str]:
        """(scene seed, scene kind) used for item ``index``."""
        scene_idx = index // self.frames_per_scene
        scene_seed = self.seed * 1_000_003 + scene_idx
        if self.kind == "mixed":
            kind = "warehouse" if scene_idx % 4 == 3 else "home"
        else:
            kind = self.kind
        return scene_seed, kind

    def worker_batches(self, batch_size: int, num_workers: int, seed: int = 0) -> list[list[int]]:
        """Batches of every index once, ordered so that each DataLoader worker renders whole
        scenes; pass them as ``DataLoader(ds, batch_sampler=..., num_workers=num_workers)``.

        A DataLoader hands batch k to worker k % num_workers. With batches in index order,
        every worker renders part of every scene and so builds every scene, which costs about
        as much as rendering a quarter of the frames again. Here the scenes are dealt out
        instead: each block of ``num_workers`` consecutive scenes goes to the workers in a
        seeded random order (equal shares, and no periodic pattern of scene kinds, such as
        every fourth scene a warehouse, lands on one worker), and batch k is cut from the
        scenes of worker k % num_workers, in index order. Items are unchanged; only the order
        in which they arrive differs.

        Args:
            batch_size: items per batch (>= 1).
            num_workers: DataLoader workers (0 or 1: batches in index order).
            seed: seeds the dealing of scenes.
        """
        if batch_size < 1 or num_workers < 0:
            raise InputError(
                f"SynthDataset.worker_batches: expected batch_size >= 1 and "
                f"num_workers >= 0, got {batch_size}, {num_workers}"
            )
        n_workers = max(1, int(num_workers))
        fps = self.frames_per_scene
        n_scenes = -(-self.length // fps)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 606, int(seed)]))
        owner = np.concatenate([rng.permutation(n_workers) for _ in range(-(-n_scenes // n_workers))])
        per_worker: list[list[list[int]]] = []
        for w in range(n_workers):
            idx = [
                i
                for s in np.flatnonzero(owner[:n_scenes] == w)
                for i in range(s * fps, min((s + 1) * fps, self.length))
            ]
            per_worker.append([idx[k : k + batch_size] for k in range(0, len(idx), batch_size)])
        # Round-robin over the workers' batch lists; where a worker's list runs out (only at
        # the end, when the scenes do not split evenly) the rest go on in turn.
        batches = []
        for k in range(max(len(b) for b in per_worker)):
            batches.extend(b[k] for b in per_worker if k < len(b))
        return batches

    def _renderer(self, index: int) -> tuple[Renderer, np.ndarray]:
        scene_seed, kind = self.scene_for(index)
        key = (scene_seed, kind)
        if self._current is None or self._current[0] != key:
            if self._bank is None:
                self._bank = TextureBank(0)
            scene = generate_scene(scene_seed, kind)
            self._current = (key, Renderer(scene, self._bank, self.render_config), free_mask(scene))
        return self._current[1], self._current[2]

    def frame(self, index: int) -> Frame:
        """Item ``index`` as a ``Frame`` with ground truth."""
        if not 0 <= index < self.length:
            raise IndexError(f"SynthDataset index {index} out of range [0, {self.length})")
        renderer, free = self._renderer(index)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 505, int(index)]))
        T = random_viewpoint(renderer.scene, rng, free)
        K = random_intrinsics(rng, self.size_hw)
        return renderer.render(T, K, rng, noise=self.noise, index=index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index < 0:
            index += self.length
        f = self.frame(index)
        k = f.intrinsics
        return {
            "rgb": torch.from_numpy(np.ascontiguousarray(f.rgb.transpose(2, 0, 1))),
            "depth_m": torch.from_numpy(f.depth_m[None].copy()),
            "labels": torch.from_numpy(f.labels.astype(np.int64)),
            "intrinsics": torch.tensor([k.fx, k.fy, k.cx, k.cy], dtype=torch.float32),
        }

    def __getstate__(self):
        # workers rebuild the bank and scene themselves instead of unpickling ~70 MB
        state = self.__dict__.copy()
        state["_bank"] = None
        state["_current"] = None
        return state
