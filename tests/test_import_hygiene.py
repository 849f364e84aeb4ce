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


def test_layers_point_one_way():
    """Lower layers never import higher ones: the data layer knows nothing of templates,
    tokenizers or collation (the recipe, above it, puts them together), and the model
    package loads its small files without torch (a screen reads a model's tokenizer and
    template in a worker without paying for torch)."""
    loaded = _loaded_after("import workbench.data.sources, workbench.data.balance, "
                           "workbench.data.dataset, workbench.data.save")
    for higher in ("workbench.collate", "workbench.templates", "workbench.tokenizer",
                   "workbench.recipe", "workbench.train", "torch"):
        assert higher not in loaded, higher
    loaded = _loaded_after("from workbench.model.load import read_model_files\n"
                           "import workbench.recipe")
    assert "torch" not in loaded
    offenders = []
    for path in (ROOT / "screens").rglob("*.py"):
        text = path.read_text()
        for name in ("config.toml", "metrics.jsonl", "status.json", "batches.jsonl",
                     "recipe.json", "index.json"):
            for n, line in enumerate(text.splitlines(), 1):
                code = line.split("#")[0]
                if f'"{name}"' in code or f"'{name}'" in code:
                    offenders.append(f"{path}:{n}: {name}")
    assert offenders == [], "screens name session files through workbench.sessions"
