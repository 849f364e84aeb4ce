"""The engine never imports the UI (harlequin's rule), nor torch on import."""

import subprocess
import sys

from conftest import ROOT

ENGINE_MODULES = [
    "workbench", "workbench.cli", "workbench.tokenizer", "workbench.templates",
    "workbench.collate", "workbench.data.sources", "workbench.data.formats",
]


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return set(out.stdout.split())


def test_engine_never_imports_textual_or_screens():
    code = "\n".join(f"import {m}" for m in ENGINE_MODULES)
    loaded = _loaded_after(code)
    assert "textual" not in loaded
    assert not any(m == "screens" or m.startswith("screens.") for m in loaded)


def test_cli_parser_imports_no_heavy_libraries():
    # `workbench` with no sub-command must reach its first frame fast: building the parser
    # imports neither torch nor datasets.
    loaded = _loaded_after("from workbench.cli import build_parser\nbuild_parser()")
    for heavy in ("torch", "datasets", "transformers", "textual"):
        assert heavy not in loaded, heavy


def test_engine_source_has_no_ui_imports():
    offenders = []
    for path in (ROOT / "workbench").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            s = line.strip()
            if s.startswith(("import textual", "from textual", "import screens", "from screens")):
                if path.name != "cli.py":
                    offenders.append(f"{path}:{n}: {s}")
    assert offenders == []
