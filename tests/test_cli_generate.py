"""`workbench generate` as a user runs it: a tiny saved model folder, the HF cache with no
network, --json, and bad input ending as one line on stderr with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from workbench.collate import encode_segments
from workbench.data.records import Example
from workbench.model import save_model
from workbench.model.toy import scripted_gpt
from workbench.templates import get_template
from workbench.tokenizer import ByteTokenizer

SCRIPT = "Hello!\n### Instruction:\n"  # the model leaks a marker, over and over
COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
# a tiny model gains nothing from threads; on a busy machine their barriers cost seconds
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "tiny"
    model = scripted_gpt(list(SCRIPT.encode()), vocab_size=257, n_positions=256)
    save_model(model, ByteTokenizer(), folder, template=get_template("alpaca"))
    return folder


def _one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_json_output(model_dir):
    proc = run_cli("generate", "--model", str(model_dir), "--prompt", "Say hi", "--json",
                   "--max-new-tokens", "40", "--device", "cpu", env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"text", "token_ids", "stop_reason", "prompt_tokens", "new_tokens",
            "seconds"} <= set(out)
    template = get_template("alpaca")
    prompt = encode_segments(template.render_prompt(Example.single("Say hi")), ByteTokenizer())[0]
    assert out["prompt_tokens"] == len(prompt)  # the saved template rendered the prompt
    assert out["stop_reason"] == "stop_string" and out["stop_string"] == "### Instruction:"
    assert out["text"] == out["clean_text"] + "### Instruction:"
    assert len(out["token_ids"]) == out["new_tokens"] and out["template"] == "alpaca"
    assert bytes(out["token_ids"]).decode() == out["text"]
    assert out["flagged"] == ["leakage"] and out["ending"] is None  # the Chat screen's checks
    assert out["prompt_ids"] == prompt  # the rendered prompt's ids, beside the new ones


def test_text_output_and_template_override(model_dir, capsys):
    proc = _main(capsys, "-m", str(model_dir), "-t", "text", "-p", "abc", "--max-new-tokens", "3")
    assert proc.returncode == 0, proc.stderr
    text, footer, checks = proc.stdout.rstrip("\n").rsplit("\n", 2)
    # the text template's prompt is the raw text: 3 tokens, then the script from position 2
    assert text == SCRIPT[2:5]
    assert footer.startswith("-- stop: length · 3 prompt tokens · 3 new tokens · ")
    assert "tokens/s" in footer and "template text" in footer
    assert checks == "-- flags: no-stop"  # cut by the token limit, as the Chat screen says


def test_loads_from_the_hf_cache_with_hf_hub_offline(model_dir, tmp_path):
    repo = tmp_path / "hub" / "models--wb-test--cli-tiny"
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    for f in model_dir.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1", **ONE_THREAD}
    proc = run_cli("generate", "--model", "wb-test/cli-tiny", "--prompt", "Say hi", "--json",
                   env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["model"] == f"hub:wb-test/cli-tiny@{COMMIT[:12]}"
    assert out["stop_reason"] == "stop_string"
    proc = run_cli("generate", "--model", "wb-test/not-cached", "--prompt", "hi", env=env)
    _one_line_error(proc, "wb-test/not-cached", "HF_HUB_OFFLINE=1", "local folder")


def test_bad_input_is_one_line_and_exit_2(model_dir, tmp_path):
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((model_dir / "config.json").read_text())
    _one_line_error(run_cli("generate", "--model", str(no_weights), "--prompt", "hi",
                            env=ONE_THREAD), str(no_weights), "no weights")


def _main(capsys, *args):
    """The same entry point in this process (a subprocess costs a torch import each)."""
    from workbench.cli import main

    code = main(["generate", *args])
    out = capsys.readouterr()
    return type("Proc", (), {"returncode": code, "stdout": out.out, "stderr": out.err})


def test_more_bad_input_in_process(model_dir, tmp_path, capsys):
    _one_line_error(_main(capsys, "--model", str(model_dir), "--prompt", "x" * 300),
                    "more than the 256-position context", "never cut")
    _one_line_error(_main(capsys, "--model", str(model_dir), "--prompt", "hi", "--top-p", "0"),
                    "top_p")
    _one_line_error(_main(capsys, "--model", str(model_dir), "--prompt", "hi",
                          "--device", "tpu"), "unknown device 'tpu'")
    folder = tmp_path / "plain"
    folder.mkdir()
    for f in model_dir.iterdir():
        if f.name != "workbench.json":
            (folder / f.name).write_bytes(f.read_bytes())
    # a plain Hugging Face folder (no saved template) continues text, and says so in a line
    res = _main(capsys, "--model", str(folder), "--prompt", "hi", "--max-new-tokens", "3")
    assert res.returncode == 0
    assert res.stderr.strip().splitlines() == [
        f"workbench: {folder} has no saved template: continuing the prompt as plain text "
        "(--template chooses one)"]
    assert "template text" in res.stdout


def test_story_template_takes_the_ending_as_a_field_or_a_last_line(model_dir, capsys):
    story = get_template("story")
    want = len(encode_segments(story.render_prompt(
        Example.single("a dog finds a bone", ending="sad")), ByteTokenizer())[0])
    for extra in (["--field", "ending=sad"], ["--field", "ending=happy", "--field", "ending=sad"]):
        proc = _main(capsys, "-m", str(model_dir), "-t", "story", "-p", "a dog finds a bone",
                     "--max-new-tokens", "2", "--json", *extra)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["prompt_tokens"] == want
        # a two-token answer has no ending cue: judged unknown, so not the sad one asked for
        assert out["ending"] == {"requested": "sad", "judged": "unknown", "adhered": False}
    proc = _main(capsys, "-m", str(model_dir), "-t", "story", "-p",
                 "a dog finds a bone\nending: sad", "--max-new-tokens", "2", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["prompt_tokens"] == want
    _one_line_error(_main(capsys, "-m", str(model_dir), "-t", "story", "-p", "a dog"),
                    "template 'story' also needs ending", "--field ending=VALUE")
    _one_line_error(_main(capsys, "-m", str(model_dir), "-t", "story", "-p", "a dog",
                          "--field", "ending"), "--field 'ending': expected NAME=VALUE")
    _one_line_error(_main(capsys, "-m", str(model_dir), "-t", "story", "-p", "a dog",
                          "--field", "mood=sad"), "takes no field 'mood'", "ending")
    _one_line_error(_main(capsys, "-m", str(model_dir), "-p", "Say hi", "--field", "ending=sad"),
                    "template 'alpaca' takes no field 'ending'", "beyond the prompt: none")


def test_bf16_weights_generate_the_same_script(model_dir, capsys):
    """--dtype bf16 holds the weights in bf16 (half the bytes per token); the scripted model's
    margins are wide, so its tokens are those of fp32."""
    runs = {}
    for dtype in ("fp32", "bf16"):
        proc = _main(capsys, "-m", str(model_dir), "-p", "Say hi", "--json", "--device", "cpu",
                     "--max-new-tokens", "12", "--dtype", dtype)
        assert proc.returncode == 0, proc.stderr
        runs[dtype] = json.loads(proc.stdout)
    assert runs["bf16"]["dtype"] == "bf16" and runs["fp32"]["dtype"] == "fp32"
    assert runs["bf16"]["token_ids"] == runs["fp32"]["token_ids"]
    with pytest.raises(SystemExit) as exited:  # argparse: usage and one line, exit 2
        _main(capsys, "-m", str(model_dir), "-p", "Say hi", "--dtype", "fp16")
    assert exited.value.code == 2 and "--dtype" in capsys.readouterr().err
