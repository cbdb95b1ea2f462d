"""Hashing Python source for cache keys, blind to what does not change behaviour.

The data engine's and the mapping code's fingerprints key rendered caches and training
samples; a fix to a docstring or a comment must not make them stale. ``code_text`` keeps
the lines that carry code: it drops docstrings (the first string statement of a module,
class or function, by the line range the parser gives), comment-only lines and blank
lines, and trailing whitespace. It works on the text itself, so the result does not depend
on the Python version that reads it (a training host may run another one).
"""

from __future__ import annotations

import ast
from pathlib import Path


def code_text(source: str) -> str:
    """``source`` without docstrings, comment-only lines, blank lines and trailing
    whitespace (a syntax error leaves the docstrings in)."""
    lines = source.splitlines()
    drop = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
                first = node.body[0]
                if (
                    isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)
                ):
                    drop.update(range(first.lineno - 1, first.end_lineno))
    kept = []
    for i, line in enumerate(lines):
        text = line.rstrip()
        if i in drop or not text.strip() or text.lstrip().startswith("#"):
            continue
        kept.append(text)
    return "\n".join(kept)


def update_with_sources(h, files, label=lambda f: f.name) -> None:
    """Feed each file's ``label`` and ``code_text`` to the hash object ``h``, in the order
    given."""
    for f in files:
        f = Path(f)
        h.update(label(f).encode())
        h.update(code_text(f.read_text(encoding="utf-8")).encode())
