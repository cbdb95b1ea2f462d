import hashlib

from real3d.core.sourcehash import code_text, update_with_sources

SRC = '''"""Module docstring,
over two lines."""

import numpy as np  # trailing comments stay


def f(x):
    """What f does."""
    # a comment line
    return x + 1


class A:
    """A class."""

    def g(self):
        s = """not a docstring: a value"""
        return s
'''


def test_docstrings_comments_and_blank_lines_do_not_count():
    text = code_text(SRC)
    assert "docstring," not in text and "What f does" not in text and "A class." not in text
    assert "a comment line" not in text and "\n\n" not in text
    assert "not a docstring: a value" in text and "# trailing comments stay" in text
    edited = SRC.replace("What f does.", "What f does, said better.").replace("# a comment line", "# another")
    assert code_text(edited) == text
    assert code_text(SRC.replace("x + 1", "x + 2")) != text
    # a file the parser rejects is hashed as it stands, docstrings and all
    assert "What f does" in code_text(SRC + "\ndef broken(:\n")


def test_update_with_sources_hashes_names_and_code(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text(SRC)
    b.write_text("x = 1\n")

    def digest(files):
        h = hashlib.sha256()
        update_with_sources(h, files)
        return h.hexdigest()

    before = digest([a, b])
    a.write_text(SRC.replace("A class.", "Another class."))
    assert digest([a, b]) == before
    b.write_text("x = 2\n")
    assert digest([a, b]) != before
