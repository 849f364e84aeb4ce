"""A small version of each seed pipeline (`workbench demo run SEED --quick`): a few SFT steps
of the shipped demo base model, then the measurements each pipeline reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, RASBT, run_cli

pytestmark = pytest.mark.slow
BASE = ROOT / "sessions" / "demo-base"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    if not (BASE / "checkpoints").is_dir():
        pytest.skip("the shipped demo base model (sessions/demo-base) is absent")
    (tmp_path / "sessions").mkdir()
    shutil.copytree(BASE, tmp_path / "sessions" / "demo-base")
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def run_seed(workdir: Path, seed: str, *extra: str) -> dict:
    res = run_cli("demo", "run", seed, "--quick", "--json", "--sessions", str(workdir / "sessions"),
                  "--data-dir", str(workdir / "data"), "--out", str(workdir / "runs"), *extra,
                  timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    key = next(iter(report))
    saved = json.loads((workdir / "runs" / key / "report.json").read_text())
    assert saved["quick"] is True
    return report[key]


def test_seed_000_balancing_and_ending_adherence(workdir):
    r = run_seed(workdir, "000")
    assert set(r["models"]) == {"base", "imbalanced", "balanced", "scratch imbalanced",
                                "scratch balanced"}
    for summary in r["models"].values():
        ending = summary["ending"]
        assert ending["n"] == r["prompts"] and set(ending["confusion"]) <= {"happy", "sad"}
    balanced = r["data"]["balanced"]["data_report"]
    imbalanced = r["data"]["imbalanced"]["data_report"]
    assert balanced["trainable"] < imbalanced["trainable"]          # undersampled
    for name in ("balanced", "scratch-balanced", "scratch-imbalanced"):
        assert (workdir / "sessions" / f"demo-000-{name}" / "checkpoints").is_dir()
    scratch = r["data"]["scratch balanced"]["data_report"]
    assert scratch["trainable"] == balanced["trainable"]  # the same balanced rows
    assert r["scratch_model"]["n_embd"] == 128
    # the requests are about plots the training file never has
    assert r["held_out"]["plots"] == ["kite", "boat", "snow"]
    assert r["held_out"]["requests"]["happy"] == r["held_out"]["requests"]["sad"]
    assert (workdir / "data" / "seed-000" / "train-60k.txt").is_file()


def test_seed_000_full_request_set_is_200_held_out_stories(tmp_path):
    import re

    from workbench.demo.pipelines import seed_000_training_data
    from workbench.demo.tinystories import HELD_OUT_PLOTS, held_out_requests, split_plots_and_names

    requests = held_out_requests(100)
    assert len(requests) == 200
    assert sum(r["ending"] == "sad" for r in requests) == 100
    assert {r["plot"] for r in requests} == set(HELD_OUT_PLOTS)
    _tp, train_names, _hp, test_names = split_plots_and_names()
    for gender, names in test_names.items():
        assert not set(names) & set(train_names[gender])
    # the training file's stories never name a held-out character
    train = seed_000_training_data(tmp_path).read_text()
    held_out = {n for names in test_names.values() for n in names}
    assert not held_out & set(re.findall(r"\b[A-Z][a-z]+\b", train))
    assert train.count("<|endoftext|>") >= 6000


def test_seed_001_the_lesson_exact_match_rises_per_epoch(workdir):
    """The lesson's tiny byte-level model from scratch: six epochs in the quick run; exact
    match starts at 0 and rises above it, one eval line per epoch, every kind reported."""
    r = run_seed(workdir, "001")
    assert r["train_pairs"] == 160 and r["test_pairs"] == 40
    run = r["runs"]["0"]
    curve = run["exact_match_per_epoch"]
    assert len(curve) == 6 and curve[0] < 0.1 and max(curve) > 0.0
    assert set(run["by_category"]) == {"capital", "arithmetic", "list", "summary", "code",
                                       "definition"}
    evals = [json.loads(x) for x in (workdir / "sessions" / run["session"] / "eval.jsonl")
             .read_text().splitlines()]
    assert [e["step"] for e in evals] == [160 * (i + 1) for i in range(6)]
    assert all(set(e["by_category"]) == set(run["by_category"]) for e in evals)


def test_seed_002_ablation_and_forgetting(workdir):
    r = run_seed(workdir, "002")
    assert r["base"]["text_loss"] > 0
    assert {"response-lr1e-3-n64", "all-lr1e-3-n64"} <= set(r["runs"])
    for run in r["runs"].values():
        assert run["text_loss"] > 0 and 0.0 <= run["f1"] <= 1.0


def test_seed_003_chapter7(workdir):
    if not RASBT.exists():
        pytest.skip(f"{RASBT} is absent: seed 003 uses the chapter-7 instruction data")
    r = run_seed(workdir, "003", "--rasbt", str(RASBT))
    assert r["train"] == 935 and r["test"] == 110
    assert set(r["models"]) == {"base", "sft"} and r["models"]["sft"]["n"] == 4
