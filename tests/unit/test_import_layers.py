"""Import cycles and layer breaks among chalicelib, media, devstack and sandbox.

The contracts live in pyproject.toml ``[tool.importlinter]``; ``make lint`` checks the same ones with
``lint-imports``. Each contract is its own test, so a package that is clean stays green while another
is being untangled. The cycle contract type is ``scripts.import_cycles``.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import grimp
import pytest
from importlinter import configuration
from importlinter.application.use_cases import lint_imports, read_user_options

from scripts.import_cycles import import_cycles, import_graph_edges

configuration.configure()  # what the lint-imports command does first: readers, graph builder, timer
ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "pyproject.toml")
CONTRACT_IDS = [options["id"] for options in read_user_options(CONFIG).contracts_options]


@pytest.mark.parametrize("contract_id", CONTRACT_IDS)
def test_import_contract_is_kept(contract_id, capsys):
    kept = lint_imports(config_filename=CONFIG, limit_to_contracts=(contract_id,), cache_dir=None, no_logo=True)
    assert kept, capsys.readouterr().out


def test_every_contract_has_an_id():
    assert len(CONTRACT_IDS) == len(read_user_options(CONFIG).contracts_options) == len(set(CONTRACT_IDS))


def test_a_cycle_through_a_function_level_import_is_found(tmp_path, monkeypatch):
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "voices.py").write_text("from cyclepkg.tts import Stream\n")
    (pkg / "tts.py").write_text(textwrap.dedent("""
        class Stream:
            def voices(self):
                from cyclepkg.voices import Stream as _  # late: hides the cycle from the import order
    """))
    (pkg / "leaf.py").write_text("import cyclepkg\nfrom cyclepkg import voices\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclepkg", cache_dir=None)
    assert import_cycles(import_graph_edges(graph)) == [["cyclepkg.tts", "cyclepkg.voices"]]
    sys.modules.pop("cyclepkg", None)


def test_cycles_are_strongly_connected_sets():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "d"}, "f": {"g"}, "g": {"f"}}
    assert import_cycles(edges) == [["a", "b", "c"], ["f", "g"]]
