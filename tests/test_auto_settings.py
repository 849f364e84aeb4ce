"""Settings that follow the model, and sample prompts that take the template's fields.

* `max_len` 0 (the default, auto) is the model's context capped at 512: a model with a
  256-position context trains without the person setting max_len; an explicit value beyond
  the context stays an error. The run records the resolved number, so `workbench batch
  --session` plans the batches the run trained on.
* `lr` 0 (the default, auto) comes from `suggest_lr(parameters, LoRA?)`; the run prints and
  logs what it chose and records the number.
* A sample prompt takes the template's extra fields as last lines (`ending: sad`), parsed
  by `split_fields` as in Chat; one that lacks a needed field is a config problem naming
  the prompt, not an error on every sample of the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli
from workbench.errors import WorkbenchError
from workbench.fsutil import read_jsonl
from workbench.model.sizes import AUTO_MAX_LEN, auto_max_len, plan_memory, suggest_lr
from workbench.recipe import build_recipe, resolve_auto, session_recipe
from workbench.sessions import read_status
from workbench.templates import get_template, prompt_example, sample_prompt_problem
from workbench.train import loop
from workbench.train.config import TrainConfig

STORIES = FIXTURES / "ui" / "data" / "stories.txt"   # TinyStoriesInstruct raw: story template


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))


@pytest.fixture
def data(qa_data) -> Path:
    return qa_data


def tiny(data: Path, **kw) -> TrainConfig:
    """A scratch model; max_len and lr left at their defaults (auto) unless given."""
    base = dict(model="scratch", tokenizer="bytes", n_layer=1, n_head=2, n_embd=32,
                n_positions=256, data=str(data), template="inst-resp", batch_size=4,
                max_steps=2, eval_every=0, save_every=0, sample_every=0, sample_prompts=[],
                seed=3, threads=1, val_ratio=0.1, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


# ----------------------------------------------------------------------------------------
# The rules


def test_auto_max_len_is_the_context_capped_at_512():
    assert auto_max_len(256)[0] == 256 and "256 positions" in auto_max_len(256)[1]
    assert auto_max_len(1024)[0] == AUTO_MAX_LEN == 512
    assert "capped at 512" in auto_max_len(2048)[1]
    assert auto_max_len(None)[0] == 512       # the model is not known yet


@pytest.mark.parametrize("n_params, lora, lr, source", [
    (3_450_000, False, 1e-3, "seed 002"),        # the demo base: this repo's lr sweep
    (19_700_000, True, 1e-3, "seed 002"),        # TinyStories-8M, LoRA
    (29_999_999, False, 1e-3, "seed 002"),
    (30_000_000, False, 5e-5, "chapter 7"),
    (124_439_808, False, 5e-5, "chapter 7"),     # gpt2
    (354_823_168, False, 5e-5, "chapter 7"),     # gpt2-medium, as chapter 7 trains it
    (124_439_808, True, 2e-4, "LoRA paper"),
    (354_823_168, True, 2e-4, "LoRA paper"),
])
def test_suggest_lr_by_size_and_lora(n_params, lora, lr, source):
    value, why = suggest_lr(n_params, lora)
    assert value == lr and source in why
    assert ("LoRA on" if lora else "full fine-tune") in why


def test_defaults_are_auto_and_round_trip(tmp_path):
    config = TrainConfig(data="x")
    assert config.max_len == 0 and config.lr == 0
    assert config.problems() == {}
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert TrainConfig.from_toml(path) == config
    bad = TrainConfig(data="x", max_len=-1, lr=-1e-4).problems()
    assert "0 for the model's context" in bad["max_len"] and "0 for one chosen" in bad["lr"]
    assert "nan" in TrainConfig(data="x", lr=float("nan")).problems()["lr"]


def test_memory_plan_of_an_auto_max_len_uses_the_resolved_length():
    from workbench.model.gpt2 import GPTConfig

    shape = GPTConfig(n_layer=2, n_head=2, n_embd=32, n_positions=256, vocab_size=300)
    auto = plan_memory(shape, TrainConfig(data="x", batch_size=4), device="cpu")
    explicit = plan_memory(shape, TrainConfig(data="x", batch_size=4, max_len=256), device="cpu")
    assert auto.max_len == 256 and auto.activations == explicit.activations > 0


# ----------------------------------------------------------------------------------------
# The recipe resolves them


def test_recipe_resolves_auto_max_len_for_a_short_context(data):
    recipe = build_recipe(tiny(data, n_positions=256))
    assert recipe.config.max_len == 256          # not "512 is more than the model's context"
    assert 0 < recipe.batch(0, 0).shape[1] <= 256
    assert build_recipe(tiny(data, n_positions=1024)).config.max_len == 512
    with pytest.raises(WorkbenchError, match="512 is more than the model's context"):
        build_recipe(tiny(data, n_positions=256, max_len=512))   # explicit: still an error
    # a recipe reused for the same settings keeps the resolved number
    first = build_recipe(tiny(data))
    again = build_recipe(tiny(data, batch_size=2), reuse=first)
    assert again.train is first.train and again.config.max_len == 256


def test_resolve_auto_says_what_it_chose(data):
    config, lines = resolve_auto(tiny(data, lora_r=0))
    assert config.max_len == 256 and config.lr == 1e-3
    assert lines[0] == "max_len 256 (auto: the model's context is 256 positions)"
    assert lines[1].startswith("lr 0.001 (auto: full fine-tune of ") and "seed 002" in lines[1]
    same, none = resolve_auto(config)               # resolved: nothing left to choose
    assert same == config and none == []
    kept, lines = resolve_auto(tiny(data, max_len=100, lr=3e-3))
    assert (kept.max_len, kept.lr, lines) == (100, 3e-3, [])


# ----------------------------------------------------------------------------------------
# The run records them, prints them, and its batches are planned with them


@pytest.mark.slow
def test_run_records_resolved_values_and_batch_session_sees_them(data, tmp_path, capsys):
    from workbench.cli import main

    sessions = tmp_path / "s"
    session = sessions / "auto"
    assert loop.run(tiny(data), session) == "finished"
    recorded = TrainConfig.from_toml(session / "config.toml")
    assert (recorded.max_len, recorded.lr) == (256, 1e-3)
    log = (session / "train.log").read_text()
    assert "max_len 256 (auto: the model's context is 256 positions)" in log
    assert "lr 0.001 (auto: full fine-tune of " in log
    first = read_jsonl(session / "metrics.jsonl")[0]
    assert first["lr"] == pytest.approx(1e-3)       # no warmup: step 1 runs at the peak
    assert session_recipe(session).config.max_len == 256
    code = main(["batch", "--session", "auto", "--sessions", str(sessions), "--step", "2",
                 "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["max_len"] == 256 and out["receipt"]["state"] == "match"


@pytest.mark.slow
def test_cli_prints_the_auto_choice_once(data, tmp_path):
    cfg = tiny(data)
    (tmp_path / "c.toml").write_text(cfg.to_toml())
    res = run_cli("train", str(tmp_path / "c.toml"), "--session", "cli", "--sessions",
                  str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("lr 0.001 (auto: full fine-tune of ") == 1
    assert res.stderr.count("max_len 256 (auto: ") == 1
    res = run_cli("batch", str(data), "--model", "scratch", "--tokenizer", "bytes",
                  "--n-positions", "128", "--template", "inst-resp", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["max_len"] == 128


# ----------------------------------------------------------------------------------------
# Sample prompts take the template's fields as Chat does


def test_a_sample_prompt_takes_the_templates_fields_as_last_lines():
    story = get_template("story")
    example = prompt_example("a dog finds a bone\nending: sad", story, row=0)
    assert example.meta == {"ending": "sad", "row": 0}
    assert story.prompt_text(example).startswith("Write a story about: a dog finds a bone\n"
                                                 "With: sad ending")
    assert sample_prompt_problem(["a dog finds a bone\nending: sad"], story) is None
    why = sample_prompt_problem(["a cat", "a dog finds a bone"], story)
    assert why.startswith("sample prompt 'a cat': ") and "ending: happy" in why
    # templates that need nothing more take the prompt as it is, colons and all
    assert sample_prompt_problem(["Note: add 2 and 3"], get_template("alpaca")) is None
    assert prompt_example("Once upon a time", get_template("text")).messages[0].role == "text"


def test_config_problems_name_a_sample_prompt_that_lacks_a_field():
    config = TrainConfig(data="x", template="story",
                         sample_prompts=["a dog finds a bone\nending: sad", "a cat naps"])
    problems = config.problems()
    assert set(problems) == {"sample_prompts"}
    assert "'a cat naps'" in problems["sample_prompts"]
    assert "ending: happy" in problems["sample_prompts"]
    with pytest.raises(WorkbenchError, match="config field 'sample_prompts': sample prompt"):
        config.validate()
    config.sample_prompts = ["a dog finds a bone\nending: sad"]
    assert config.problems() == {}


def test_demo_base_sample_prompts_still_fit_its_template():
    from workbench.demo.build import base_config

    config = base_config(Path("stories.jsonl"))
    assert config.sample_prompts and config.problems() == {}


@pytest.mark.slow
def test_story_samples_are_answered_not_failed(tmp_path):
    session = tmp_path / "story"
    config = tiny(STORIES, template="story", n_positions=128, max_steps=1,
                  sample_prompts=["a dog finds a bone\nending: sad"], sample_max_new_tokens=4)
    assert loop.run(config, session) == "finished"
    samples = read_jsonl(session / "samples.jsonl")
    assert samples and all("error" not in s and "text" in s for s in samples)


@pytest.mark.slow
def test_a_resolved_template_is_checked_before_the_first_step(tmp_path):
    """No template chosen: the data's usual one (story) is known only to the run, which
    refuses a sample prompt without its ending before training, with one line."""
    session = tmp_path / "story-auto"
    config = tiny(STORIES, template="", n_positions=128, max_steps=1,
                  sample_prompts=["a dog finds a bone"])
    assert config.problems() == {}
    with pytest.raises(WorkbenchError, match="config field 'sample_prompts': sample prompt "
                                             "'a dog finds a bone'.*ending: happy"):
        loop.run(config, session)
    status = read_status(session)
    assert status["state"] == "failed" and status["before_training"]
    assert not (session / "metrics.jsonl").exists()
