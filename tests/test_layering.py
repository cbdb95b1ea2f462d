"""The package's layering, read from the source with ``ast`` (nothing is imported).

Every ``import`` counts, at module level or inside a function: a lazy import is still a
dependency. Checked:

(a) no stage package imports the data engine (``real3d.synth``) directly;
(b) no import cycles between modules;
(c) each package imports only the packages the layering in ARCHITECTURE.md puts below it
    (``ALLOWED``), apart from the named edges in ``KNOWN_EXCEPTIONS``, which must still
    exist (remove an entry once its edge is gone).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Pipeline stages: their runtime code and evaluation take ground truth from real3d.core.gt
# and never need the data engine.
STAGES = (
    "core",
    "geometry",
    "io",
    "nn",
    "sparse",
    "models",
    "eval",
    "robust",
    "mapping",
    "scene",
    "nav",
    "deploy",
    "viz",
)

# Package -> the real3d packages it may import (its own always). The flow of ARCHITECTURE.md:
# core <- geometry <- io/synth <- nn/sparse <- models <- train; mapping <- scene/nav;
# eval scores the models and the stages (it sits above both, below pipeline);
# pipeline <- cli; nothing imports cli; deploy serves models to the pipeline; testing holds
# fixtures and harnesses for tests and benchmarks, which no stage imports.
_BASE = {"core", "geometry", "io"}
_NETS = {"nn", "sparse"}
ALLOWED = {
    "core": set(),
    "geometry": {"core"},
    "io": {"core", "geometry"},
    "synth": _BASE,
    "nn": _BASE,
    "sparse": _BASE,
    "models": _BASE | _NETS,
    "deploy": _BASE | _NETS | {"models"},
    "eval": _BASE | _NETS | {"models", "train", "mapping", "scene", "nav"},
    "train": _BASE | _NETS | {"synth", "models", "eval", "mapping", "scene", "nav", "testing"},
    "mapping": _BASE,
    "scene": _BASE | {"mapping"},
    "nav": _BASE | {"mapping", "scene"},
    "viz": _BASE | _NETS | {"models", "eval", "mapping", "scene", "nav"},
    # corrupts frames and scores models under the corruptions, above eval
    "robust": _BASE | _NETS | {"models", "eval", "train"},
    "pipeline": _BASE | _NETS | {"synth", "models", "deploy", "eval", "mapping", "scene", "nav"},
    "testing": _BASE | {"synth", "mapping", "scene"},
    # the optional ROS 2 node runs the pipeline, like cli
    "ros": _BASE | {"pipeline"},
    "cli": _BASE
    | _NETS
    | {"synth", "models", "deploy", "eval", "train", "mapping", "scene", "nav", "viz", "pipeline", "testing", "robust"}
    | {"real3d"},  # the package root, for real3d --version
    "real3d": _BASE | {"pipeline"},
    # python -m real3d: the command, like the console script
    "__main__": {"cli"},
}

# Module -> module edges that break ``ALLOWED`` today, with the reason they stay for now.
KNOWN_EXCEPTIONS = {
    # INT8 calibration reads frames through a training data spec.
    ("real3d.deploy.onnx_export", "real3d.train.data"),
    # create_model's default INT8 calibration frames come from the data engine through it.
    ("real3d.deploy.runtime", "real3d.train.data"),
    # The seed's real3d.nav.RobotNavigator, a lazy alias of real3d.pipeline.navigator.
    ("real3d.nav", "real3d.pipeline.navigator"),
    # create_model serves the "onnx" / "int8" backends through deploy (imported only then).
    ("real3d.models.factory", "real3d.deploy.runtime"),
    # PipelineConfig.health_check runs the sensor health check (numpy over a Frame) per frame.
    ("real3d.pipeline.runner", "real3d.robust.health"),
    # Alias of real3d.testing.toyscene kept for the benchmarks that import the old path.
    ("real3d.mapping.toyscene", "real3d.testing.toyscene"),
    # Corruption-aware training applies the benchmark's corruptions (real3d.robust) as augmentation.
    ("real3d.train.corrupt_augment", "real3d.robust.corruptions"),
}


def _modules(src: Path) -> dict[str, Path]:
    out = {}
    for p in sorted((src / "real3d").rglob("*.py")):
        parts = list(p.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def _resolve(name: str, modules) -> str | None:
    """The module ``name`` names, or the package or module that defines it."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(src: Path = SRC) -> dict[str, set[tuple[str, bool]]]:
    """Module -> {(imported real3d module, at module level)} for every module under
    ``src/real3d``, counting imports inside functions and classes too."""
    modules = _modules(src)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        top = {id(n) for n in tree.body}
        found = set()
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                if t == "real3d" or t.startswith("real3d."):
                    mod = _resolve(t, modules)
                    if mod is not None and mod != name:
                        found.add((mod, id(node) in top))
        graph[name] = found
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "real3d"


def synth_imports(graph) -> list[str]:
    return sorted(
        f"{m} -> {t}" for m, ts in graph.items() for t, _ in ts if _package(m) in STAGES and _package(t) == "synth"
    )


def import_cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted({t for t, _ in ts}) for m, ts in graph.items()}
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges.get(w, ()))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def layering_violations(graph) -> list[str]:
    bad = []
    for m, ts in sorted(graph.items()):
        pkg = _package(m)
        allowed = ALLOWED.get(pkg)
        if allowed is None:
            bad.append(f"{m}: package {pkg!r} has no entry in ALLOWED (place it in the layering)")
            continue
        for t, _ in sorted(ts):
            tp = _package(t)
            if tp != pkg and tp not in allowed and (m, t) not in KNOWN_EXCEPTIONS:
                bad.append(f"{m} -> {t} ({pkg} may import {sorted(allowed)})")
    return bad


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_graph_sees_lazy_and_relative_imports(tmp_path):
    pkg = tmp_path / "real3d"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from .x import f\n")
    (pkg / "a" / "x.py").write_text("def f():\n    from real3d.b import g\n    return g\n")
    (pkg / "b.py").write_text("import real3d.a.x\n")
    g = import_graph(tmp_path)
    assert g["real3d.a"] == {("real3d.a.x", True)}
    assert g["real3d.a.x"] == {("real3d.b", False)}
    assert g["real3d.b"] == {("real3d.a.x", True)}
    assert import_cycles(g) == [["real3d.a.x", "real3d.b"]]


def test_no_stage_imports_the_data_engine(graph):
    assert synth_imports(graph) == []


def test_no_import_cycles(graph):
    assert import_cycles(graph) == []


def test_stages_import_only_the_layers_below(graph):
    assert layering_violations(graph) == []


def test_known_exceptions_still_exist(graph):
    edges = {(m, t) for m, ts in graph.items() for t, _ in ts}
    assert KNOWN_EXCEPTIONS <= edges, f"gone, remove from KNOWN_EXCEPTIONS: {sorted(KNOWN_EXCEPTIONS - edges)}"


def test_the_pipeline_loads_the_data_engine_only_when_asked(graph):
    # Default data (INT8 calibration frames, the SyntheticStream alias) is built on demand.
    assert not [t for t, top in graph["real3d.pipeline"] if top and _package(t) == "synth"]
