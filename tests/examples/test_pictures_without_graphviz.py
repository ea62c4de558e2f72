"""A training run without the `graphviz` Python package still ends well: the pictures
are skipped with a note (examples/support/pictures.py), and minigrad.graph's error for
the missing package is an ImportError as well as a MinigradError."""
import sys

import pytest

import minigrad as mg
from support import pictures


@pytest.fixture
def no_graphviz(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)      # `import graphviz` now fails


def test_missing_graphviz_package_is_an_import_error(no_graphviz):
    from minigrad.graph import render_block
    with pytest.raises(ImportError, match="pip install graphviz") as info:
        render_block("attention")
    assert isinstance(info.value, mg.MissingPackageError)
    assert isinstance(info.value, mg.MinigradError)


def test_block_pictures_are_skipped_with_a_note(no_graphviz, tmp_path):
    written = pictures.render_block_pictures(str(tmp_path), ("attention", "ffn"))
    assert [name for name, _, _ in written] == ["attention", "ffn"]
    for _, path, note in written:
        assert path is None and "pip install graphviz" in note
    assert list(tmp_path.iterdir()) == []
