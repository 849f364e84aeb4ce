"""`workbench diagnose` as a user runs it: highlighted flags and rates, --json as JSONL,
stdin or a file, and bad input as one line with exit code 2 (never a traceback)."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, run_cli

GENERATIONS = [
    {"id": "clean", "prompt": "What is the capital of France?",
     "response": "The capital of France is Paris.", "stop_reason": "end",
     "reference": "The capital of France is Paris.", "category": "capital of X"},
    {"id": "leak", "prompt": "Name a color.",
     "response": "Blue.\n\n### Instruction:\nName a fruit.", "stop_reason": "end",
     "reference": "Blue", "category": "definitions"},
    {"id": "loop", "prompt": "Tell me about the cat.",
     "response": "The cat sat on the mat. " * 4, "stop_reason": "length", "token_ids": [464] * 28},
    {"id": "empty", "prompt": "Say hi.", "response": "", "stop_reason": "end"},
    {"id": "echo", "prompt": "Explain what a black hole is in simple words.",
     "response": "Explain what a black hole is in simple words.", "stop_reason": "end"},
    {"id": "story", "prompt": "Write a story about: a lost kite\nWith: sad ending\n\n### Story:\n",
     "response": "Anna lost her kite. She looked for it all day. She cried and went home alone.",
     "stop_reason": "end", "ending": "sad"},
]


def _jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def gens(tmp_path):
    f = tmp_path / "generations.jsonl"
    f.write_text(_jsonl(GENERATIONS))
    return f


def test_text_output_flags_evidence_and_rates(gens):
    res = run_cli("diagnose", str(gens), "--template", "alpaca")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"{gens} · 6 generations · template alpaca" in out
    assert "line 1 (id clean) · ok · stop end" in out and "exact 1 · F1 1.00" in out
    assert "line 2 (id leak) · leakage · stop end" in out
    assert "  │ Blue.\n  │ \n  │ [[### Instruction:]]\n  │ Name a fruit." in out
    assert "line 3 (id loop) · looping, no_stop · stop length · 24 words, 28 tokens" in out
    assert "[[The cat sat on the mat]]. [[The cat sat on the mat]]." in out
    assert "  │ (empty)" in out
    assert "line 5 (id echo) · echo" in out
    assert "ending: sad (asked sad) ok · cues lost(sad), cried(sad), alone(sad)" in out
    for line in ("  leakage       1/6      16.7%", "  looping       1/6      16.7%",
                 "  no_stop       1/6      16.7%", "  empty         1/6      16.7%",
                 "  echo          1/6      16.7%", "  any flag      4/6      66.7%",
                 "  stop reasons: end 5 · length 1",
                 "  exact match 0.500 · token F1 0.667 (2 with a reference)",
                 "    capital of X             n=1    exact 1.000  F1 1.000",
                 "  ending adherence 1.000 (1 story; lexicon heuristic)"):
        assert line in out, line
    assert "\x1b[" not in out                  # not a terminal: brackets, no colors


def test_json_is_one_object_per_line_then_the_summary(gens):
    res = run_cli("diagnose", str(gens), "-t", "alpaca", "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(lines) == len(GENERATIONS) + 1
    leak = lines[1]
    assert leak["line"] == 2 and leak["id"] == "leak" and leak["flagged"] == ["leakage"]
    s, e = leak["findings"]["leakage"]["spans"][0]
    assert leak["response"][s:e] == "### Instruction:"
    loop = lines[2]
    assert loop["flags"]["looping"] and loop["flags"]["no_stop"] and loop["tokens"] == 28
    assert [loop["response"][a:b] for a, b in loop["findings"]["looping"]["spans"]] == \
        ["The cat sat on the mat"] * 4
    assert 0 <= loop["scores"]["looping"] <= 1
    assert lines[5]["ending"]["label"] == "sad" and lines[5]["ending_adhered"] is True
    summary = lines[-1]["summary"]
    assert summary["n"] == 6 and summary["template"] == "alpaca"
    for name in ("leakage", "looping", "no_stop", "empty", "echo"):
        assert summary[name] == pytest.approx(1 / 6)
    assert summary["stop_reasons"]["length"] == 1 and summary["skipped_bad_lines"] == 0
    assert summary["by_category"]["definitions"]["exact_match"] == 0.0
    assert summary["ending"]["accuracy"] == 1.0


def test_stdin_generate_shape_and_only_flagged():
    rows = [{"text": "Hello there.", "stop_reason": "end", "token_ids": [1, 2]},
            {"text": "Go.<|user|>\nmore", "stop_reason": "end"}]
    res = run_cli("diagnose", "--template", "chatml", "--only-flagged", input=_jsonl(rows))
    assert res.returncode == 0, res.stderr
    assert "<stdin> · 2 generations · template chatml" in res.stdout
    assert "line 1 " not in res.stdout and "line 2 · leakage" in res.stdout
    assert "  leakage       1/2      50.0%" in res.stdout


def test_no_template_checks_generic_markers_and_custom_toml(tmp_path):
    rows = [{"response": "Yes.\nCustomer: Thanks!", "stop_reason": "end"},
            {"response": "Hi<|im_end|>", "stop_reason": "end"}]
    res = run_cli("diagnose", "--json", input=_jsonl(rows))
    flagged = [json.loads(line).get("flagged") for line in res.stdout.splitlines()[:2]]
    assert flagged == [[], ["leakage"]]
    assert "template none (generic markers only)" in run_cli("diagnose", input=_jsonl(rows)).stdout
    res = run_cli("diagnose", "-t", str(FIXTURES / "diagnose" / "support.toml"), "--json",
                  input=_jsonl(rows))
    assert json.loads(res.stdout.splitlines()[0])["flagged"] == ["leakage"]


def test_color_always_uses_ansi(gens):
    res = run_cli("diagnose", str(gens), "-t", "alpaca", "--color", "always")
    assert res.returncode == 0
    assert "\x1b[1;97;41m### Instruction:\x1b[0m" in res.stdout and "[[" not in res.stdout


def test_max_chars_shortens_long_responses(tmp_path):
    rows = [{"response": "word " * 100, "stop_reason": "length"}]
    res = run_cli("diagnose", "--max-chars", "50", input=_jsonl(rows))
    assert "… (450 more characters)" in res.stdout


BAD_LINES = [
    ('{"response": "a"}\n{"response": 5}\n', "line 2: field 'response' is a number, expected a string"),
    ('{"response": "a"}\n\n{"oops"\n', "line 3: malformed JSON"),
    ('{"prompt": "a"}\n', "line 1: missing field 'response'"),
    ('["a"]\n', "line 1: expected a JSON object, got a list"),
    ('{"response": "a", "stop_reason": "lenght"}\n',
     "line 1: field 'stop_reason' is 'lenght', expected end, stop_string, length or null"),
    ('{"response": "a", "ending": "funny"}\n', "line 1: ending 'funny': expected happy or sad"),
    ('{"response": "a", "token_ids": [1, "2"]}\n', "line 1: field 'token_ids' holds something other"),
    ('{"response": "a", "reference": 4}\n', "line 1: field 'reference' is a number"),
    ('{"response": "a", "prompt": ["x"]}\n', "line 1: field 'prompt' is a list, expected a string"),
]


@pytest.mark.parametrize("content,message", BAD_LINES)
def test_bad_lines_one_line_exit_2(tmp_path, content, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    res = run_cli("diagnose", str(f), "-t", "alpaca")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{f}: {message}" in lines[0], res.stderr
    assert "--skip-bad" in lines[0] and res.stdout == ""


def test_skip_bad_diagnoses_the_rest_and_counts(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text('{"response": "fine", "stop_reason": "end"}\n{"response": 5}\nnot json\n'
                 '{"response": "also fine", "stop_reason": "end"}\n')
    res = run_cli("diagnose", str(f), "--skip-bad")
    assert res.returncode == 0, res.stderr
    assert "2 generations" in res.stdout
    assert ("skipped 2 bad lines (line 2: field 'response' is a number, expected a string; "
            "line 3: malformed JSON") in res.stdout
    res = run_cli("diagnose", str(f), "--skip-bad", "--json")
    summary = json.loads(res.stdout.splitlines()[-1])["summary"]
    assert summary["n"] == 2 and summary["skipped_bad_lines"] == 2
    assert [b["line"] for b in summary["bad_lines"]] == [2, 3]


@pytest.mark.parametrize("args,stdin,message", [
    (["-t", "alpacca"], '{"response": "a"}\n', "unknown template 'alpacca'"),
    (["missing.jsonl"], None, "missing.jsonl: no such file"),
    ([], "", "<stdin>: no generations to diagnose"),
    (["--max-chars", "-1"], '{"response": "a"}\n', "--max-chars must be 0 or more"),
])
def test_bad_arguments(args, stdin, message):
    res = run_cli("diagnose", *args, input=stdin)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_all_lines_bad_with_skip_bad_is_an_error(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text("nope\n")
    res = run_cli("diagnose", str(f), "--skip-bad")
    assert res.returncode == 2 and "no generations to diagnose (1 bad line)" in res.stderr


def test_help_describes_the_input():
    res = run_cli("diagnose", "--help")
    assert res.returncode == 0 and "--skip-bad" in res.stdout and '"stop_reason"' in res.stdout


def test_a_story_cut_at_the_token_limit_is_unfinished_not_a_mismatch(tmp_path):
    f = tmp_path / "cut.jsonl"
    f.write_text(_jsonl([{"id": "cut", "prompt": "Write a story.\nWith: sad ending\n",
                          "response": "Tom was happy. He smiled and played with his",
                          "stop_reason": "length", "ending": "sad"}]))
    res = run_cli("diagnose", str(f), "--template", "alpaca")
    assert res.returncode == 0, res.stderr
    assert "ending: unfinished (asked sad; cut at the token limit)" in res.stdout
    assert "MISMATCH" not in res.stdout
