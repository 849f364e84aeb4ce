"""Shared test helpers. Tests that need ../shared (real data, the GPT-2 files) skip with a
reason when it is absent; nothing here touches the network."""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(os.environ.get("WORKBENCH_SHARED", ROOT.parent / "shared"))
GPT2_BPE = SHARED / "gpt2-bpe"
RASBT = SHARED / "data" / "rasbt-instruction-data" / "instruction-data.json"

# Keep tests off the network even if a library tries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def need_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data/tokenizer folder beside the "
                    "repository is needed for this test")
    return path


@pytest.fixture(scope="session")
def gpt2_dir() -> Path:
    return need_shared(GPT2_BPE)


@pytest.fixture(scope="session")
def gpt2_tok(gpt2_dir):
    from workbench.tokenizer import load_tokenizer

    return load_tokenizer(gpt2_dir)


@pytest.fixture(scope="session")
def rasbt_json() -> Path:
    return need_shared(RASBT)


def run_cli(*args: str, input: str | None = None, cwd: Path | None = None,
            env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m workbench ARGS` as a user would, capturing its output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "workbench", *args], input=input,
                          capture_output=True, text=True, cwd=cwd or ROOT, env=full_env,
                          timeout=timeout)


def sync(test):
    """Run an async test with asyncio (the project has no async pytest plugin)."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return run


def write_rows(path: Path, groups: dict[str, tuple[int, int]]) -> Path:
    """An alpaca file: for each category, (rows, response length in bytes)."""
    import json

    with open(path, "w", encoding="utf-8") as fh:
        for category, (n, length) in groups.items():
            for i in range(n):
                fh.write(json.dumps({"instruction": f"Question {i}", "input": "",
                                     "output": "x" * length, "category": category}) + "\n")
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A private dataset cache; the repository as the working folder."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(Path(__file__).resolve().parents[1])


async def until(pilot, check, what: str, timeout: float = 20.0):
    """Pause a Pilot until `check()` is true (exceptions count as not yet), or fail naming
    `what`."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        await pilot.pause(0.05)
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def qa_data(tmp_path) -> Path:
    """48 tiny Alpaca rows ("What is 3 plus 4?" -> "7."): the data of the short training
    tests."""
    import json

    f = tmp_path / "qa.jsonl"
    rows = [{"instruction": f"What is {a} plus {b}?", "input": "", "output": f"{a + b}."}
            for a in range(8) for b in range(6)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f
