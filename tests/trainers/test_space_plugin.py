"""A fourth search space is one package: found by entry point, searched by the unchanged trainers."""

import dataclasses
import json
import subprocess
import sys
import textwrap

from enas import spaces
from enas.trainers import search as search_module

PACKAGE = textwrap.dedent('''
    """A plug-in space: the macro space under another name, with only convolutions."""
    import dataclasses

    from enas.spaces import get_space, register_space

    macro = get_space("macro")
    SPACE = register_space(dataclasses.replace(macro, name="convs_only"))
''')


def _install_plugin(tmp_path, monkeypatch):
    """A distribution on sys.path whose entry point names its space package (nothing else is edited)."""
    (tmp_path / "convs_only_space").mkdir()
    (tmp_path / "convs_only_space" / "__init__.py").write_text(PACKAGE)
    dist = tmp_path / "convs_only_space-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: convs-only-space\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[enas.spaces]\nconvs_only = convs_only_space\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_space_from_an_entry_point_is_listed_and_searched(tmp_path, monkeypatch, tiny_config, embedded_data):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site, monkeypatch)
    assert "convs_only" in spaces.available_spaces()
    space = spaces.get_space("convs_only")
    assert space.name == "convs_only" and space.task == "image"
    config = tiny_config(tmp_path / "run", "macro")
    config = config.replace(child=dataclasses.replace(config.child, search_for="convs_only", num_branches=2),
                            run=dataclasses.replace(config.run, num_epochs=1))
    derived = search_module.search(config, data=embedded_data)
    assert all(op < 2 for op in space.parse_arc(derived["best"]["arc"], config.child).ops)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["child"]["search_for"] == "convs_only"


def test_the_built_in_spaces_are_found_without_a_list():
    assert {"macro", "micro", "rnn"} <= set(spaces.available_spaces())
    assert not hasattr(spaces, "_BUILTIN_MODULES")


def test_an_arc_module_imports_no_model_code():
    """Each space's arc module owns the value, op table and token layout; the children import it,
    never the reverse (and parsing an architecture needs neither Keras nor TensorFlow)."""
    code = ("import sys\n"
            "import enas.spaces.macro, enas.spaces.micro, enas.spaces.rnn\n"
            "from enas.spaces import get_space\n"
            "for name in ('macro', 'micro', 'rnn'): get_space(name)\n"
            "bad = [m for m in sys.modules if m.startswith(('keras', 'tensorflow'))\n"
            "       or m.endswith(('.shared', '.fixed', '.models', '.cell_ops'))]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
