"""Detectors and metrics, one behaviour at a time, with the exact evidence spans."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT
from workbench.diagnose import (DETECTORS, Span, Thresholds, answer_scores, answer_words,
                                classify_ending, detect_echo, detect_empty, detect_leakage,
                                detect_looping, detect_no_stop, diagnose, ending_report,
                                exact_match, find_markers, is_verse, marker_pattern,
                                markers_for, normalize_answer, normalize_ending,
                                repeated_sentences, sentence_spans, summarize, token_f1)
from workbench.templates import get_template

ALPACA = get_template("alpaca")
CHATML = get_template("chatml")
SUPPORT = FIXTURES / "diagnose" / "support.toml"


def spans_text(text, finding):
    return [text[s.start:s.end] for s in finding.spans]


# ---------------------------------------------------------------------------------------
# Role leakage


def test_leakage_alpaca_new_section_spans():
    text = "Paris.\n\n### Instruction:\nName a river.\n\n### Response:\nThe Seine."
    f = detect_leakage(text, ALPACA)
    assert f.flag and f.score is None
    assert f.spans == (Span(8, 24), Span(40, 53))
    assert spans_text(text, f) == ["### Instruction:", "### Response:"]
    assert "'### Instruction:'" in f.message and "first at 8–24" in f.message


@pytest.mark.parametrize("text,found", [
    ("Berlin. ### Instruction: next", "### Instruction:"),          # mid-line
    ("Red.\n###  Instruction :\nmore", "###  Instruction :"),         # extra spaces
    ("Red.\n###Input:\nBlue", "###Input:"),                          # no space
    ("Red.\n\n### Input\nBlue", "### Input"),                         # colon missing, own line
    ("Carrot.\n\n### Response", "### Response"),                      # colon missing, at the end
    ("Red.\n## Response:\nx", "## Response:"),                        # two hashes
    ("Red.\n#### Response:\nx", "#### Response:"),                    # four hashes
    ("ok ### instruction: lower", "### instruction:"),                # any case
])
def test_leakage_alpaca_variants(text, found):
    f = detect_leakage(text, ALPACA)
    assert f.flag and spans_text(text, f) == [found]


@pytest.mark.parametrize("text", [
    "### Installation\n\nRun pip install x.\n\n### Usage\n\nType x --help.",
    "### Response codes\n- 200: ok",
    "### Instructions\nMix and fry.",
    "### Instruction manual for the blender",
    "#!/bin/bash\n### print the date\ndate",
    "Read every instruction first. The response tells you if parts are missing.",
    "<div><h1>Hi</h1></div>",
    "Use `parseA <|> parseB` or `xs |> Enum.map(f)`.",
    "Install it with <INSTALL> then <RESPONSE>.",
    "The customer: a person who buys.",
    "",
])
def test_leakage_near_misses_do_not_flag(text):
    for template in (ALPACA, CHATML, get_template("inst-resp"), get_template("story")):
        f = detect_leakage(text, template)
        assert not f.flag, (template.name, f.message)


@pytest.mark.parametrize("text,found", [
    ("Paris.<|user|>\nAnd Spain?", "<|user|>"),
    ("One.\n< | user | >\nTwo", "< | user | >"),
    ("<|assistant|>\nGreen.", "<|assistant|>"),
    ("Hi there!<|end|>", "<|end|>"),
    ("Hi.<|im_end|>", "<|im_end|>"),                  # generic ChatML
    ("Mars. [INST] more", "[INST]"),                  # generic Llama
])
def test_leakage_chatml(text, found):
    f = detect_leakage(text, CHATML)
    assert f.flag and spans_text(text, f) == [found]


def test_leakage_inst_resp_and_story_and_custom():
    f = detect_leakage("Lima.<INST>Chile?<RESP>Santiago.", get_template("inst-resp"))
    assert f.spans == (Span(5, 11), Span(17, 23))
    story = "Tom was happy.\n\nWrite a story about: a dog\nWith: happy ending"
    f = detect_leakage(story, get_template("story"))
    assert spans_text(story, f) == ["Write a story about:"]
    assert not detect_leakage("I will write a story about: dogs", get_template("story")).flag  # case
    support = get_template(str(SUPPORT))
    text = "Yes.\nCustomer: Thanks!\nAgent: Welcome."
    assert spans_text(text, detect_leakage(text, support)) == ["Customer:", "Agent:"]
    assert not detect_leakage("Every customer: gets a refund.", support).flag


def test_text_template_never_leaks_and_no_template_uses_generic_markers():
    text = "### Instruction: x <|user|>"
    assert not detect_leakage(text, get_template("text")).flag
    assert markers_for(get_template("text")) == ()
    f = detect_leakage(text, None)
    assert f.flag and len(f.spans) == 2
    assert not detect_leakage("Story: Write a story about: x", None).flag  # not generic


def test_leakage_from_stop_string():
    # The generator stopped on a stop string and cut it from the text.
    f = detect_leakage("Water boils at 100 C.\n\n", ALPACA, stop_reason="stop_string")
    assert f.flag and f.spans == () and "every stop string of template 'alpaca'" in f.message
    support = get_template(str(SUPPORT))
    f = detect_leakage("No.\n", support, stop_reason="stop_string", stop_string="Customer:")
    assert f.flag and "'Customer:'" in f.message
    # a stop string that is no marker, or an unknown template: no leak
    assert not detect_leakage("a\n\n", support, stop_reason="stop_string", stop_string="\n\n").flag
    assert not detect_leakage("a", None, stop_reason="stop_string").flag
    assert not detect_leakage("a", ALPACA, stop_reason="end").flag


def test_leakage_marker_cut_by_the_token_limit():
    text = "2 + 2 is 4.\n<|us"
    f = detect_leakage(text, CHATML, stop_reason="length")
    assert f.flag and f.spans == (Span(12, 16),) and "start of '<|user|>'" in f.message
    assert not detect_leakage(text, CHATML, stop_reason="end").flag      # only when cut
    f = detect_leakage("Red.\n\n### Instr", ALPACA, stop_reason="length")
    assert f.flag and "'### Instruction:'" in f.message
    for clean in ("<p>Hello</p>\n  <in", "x = [1, 2, 3", "He said ###", "a <|"):
        assert not detect_leakage(clean, CHATML, stop_reason="length").flag, clean


def test_find_markers_prefers_the_longer_overlapping_match():
    text = "x <|endoftext|> y"
    assert find_markers(text, ("<|endoftext|>", "<|end|>")) == [(Span(2, 15), "<|endoftext|>")]
    assert marker_pattern("<INST>").search("<inst>")
    assert not marker_pattern("<INST>").search("<INSTALL>")
    assert not marker_pattern("User:").search("SuperUser: x")


# ---------------------------------------------------------------------------------------
# Looping


def test_looping_cat_mat_copies():
    text = "The cat sat on the mat. " * 3
    f = detect_looping(text)
    assert f.flag
    assert f.spans == (Span(0, 22), Span(24, 46), Span(48, 70))
    assert spans_text(text, f) == ["The cat sat on the mat"] * 3
    assert "repeated 3× in a row (6 words each" in f.message
    assert f.score == pytest.approx(12 / 18)


def test_looping_shortest_period_and_cut_copy():
    text = "I don't know. " * 5 + "I don't"
    f = detect_looping(text)
    assert f.flag and len(f.spans) == 5 and spans_text(text, f)[0] == "I don't know"


def test_looping_numbered_list_that_cycles():
    text = "\n".join(f"{i}. {item}" for i, item in
                     enumerate(["Apples", "Bananas", "Oranges"] * 4, start=1))
    f = detect_looping(text)
    assert f.flag and spans_text(text, f)[0] == "1. Apples\n2. Bananas\n3. Oranges"


def test_looping_tail_share_catches_varied_loops():
    text = ("She was very happy and she played with her kite every day and " * 3
            + "she was very happy")
    f = detect_looping(text)
    assert f.flag and f.score >= 0.5
    varied = ("Lily had a kite. She was very happy. She was very happy with her kite. She was "
              "very happy and she played with her kite. She was very happy and she played with "
              "her kite every day. She was very happy and she played with her kite every day.")
    f = detect_looping(varied)
    assert f.flag and "repeat earlier 4-word stretches" in f.message and f.spans


@pytest.mark.parametrize("text", [
    "- apples\n- apple pie\n- apple juice",
    "4",
    "No, no, no! Tom ran and ran and ran home.",
    "The sand is warm and the water is blue. The waves roll onto the shore and the birds fly "
    "over the sea. In the evening the sun sets behind the hills.",
    "I like the sun. I like the rain. I like the wind. I like the snow.",
    "1. Fill a pot with soil.\n2. Make a hole.\n3. Put the seed in.\n4. Water it.",
    "<table>\n  <tr><th>Name</th><th>Age</th></tr>\n  <tr><td>Anna</td><td>12</td></tr>\n"
    "  <tr><td>Ben</td><td>10</td></tr>\n</table>",
    "",
])
def test_looping_near_misses(text):
    assert not detect_looping(text).flag


def test_looping_thresholds_are_settings():
    text = "ha ha ha ha ha ha"
    assert not detect_looping(text).flag
    assert detect_looping(text, Thresholds(loop_min_words=6)).flag


STORM = ('Ben did not like storms. "Every storm stops," his mom said. Ben held his bear. The '
         'rain hit the window. "Every storm stops," his mom said. He saw a flash and cried. '
         'Mom held his hand. "EVERY storm stops" his mom said! They sang a song. The sun came '
         'out.\n"Every  storm stops," his mom said.')


def test_looping_sentence_said_again_and_again_across_a_story():
    # the user's report: one line of dialogue four times, never back to back
    f = detect_looping(STORM)
    assert f.flag
    assert spans_text(STORM, f) == ['"Every storm stops," his mom said.',
                                    '"Every storm stops," his mom said.',
                                    '"EVERY storm stops" his mom said!',    # case, punctuation
                                    '"Every  storm stops," his mom said.']  # and spacing vary
    assert f.spans[0] == Span(25, 59)
    assert f.message == "'\"Every storm stops,\" his mom said.' said 4× across the response"
    assert f.score < 0.5                       # the tail share alone would not flag it
    # three copies are enough; two are a refrain
    three = STORM[:STORM.rindex("\n")]
    assert detect_looping(three).flag
    two = three[:three.index("They sang")].replace('"EVERY storm stops" his mom said!', "")
    assert not detect_looping(two).flag
    assert not detect_looping(three, Thresholds(loop_sentence_repeats=4)).flag


def test_looping_sentence_share_catches_a_story_that_starts_over():
    text = ("Mia wanted to bake a cake for her dad. She got the flour and the eggs. Mia wanted "
            "to bake a cake for her dad. She mixed it all in a bowl. She got the flour and the "
            "eggs. The cake was yummy.")
    f = detect_looping(text)
    assert f.flag and f.message.startswith("2 of 6 sentences repeat earlier ones (")
    assert len(f.spans) == 4
    assert spans_text(text, f)[:2] == ["Mia wanted to bake a cake for her dad.",
                                       "She got the flour and the eggs."]
    assert not detect_looping(text, Thresholds(loop_sentence_share=0.4)).flag
    assert not detect_looping(text, Thresholds(loop_sentence_copies=3)).flag


@pytest.mark.parametrize("text", [
    # short sentences may come back as often as they like
    "Tom got a bike. Tom smiled. He rode it to the park. Tom smiled. Mom made a cake. Tom "
    "smiled. The end.",
    '"Yes!" said Kim. "Can we see the lions?" "Yes!" Dad laughed. "Okay." "Yes!" "Okay."',
    # a refrain said twice
    'The engine saw the hill. "I think I can, I think I can," she puffed. The toys held their '
    'breath. "I think I can, I think I can," she puffed. At the top they all cheered.',
    # sentences alike but not the same
    "The capital of France is Paris. The capital of Spain is Madrid. The capital of Italy is "
    "Rome.",
    "Lily saw a bird in a tree. Lily saw a rabbit under a bush. Lily saw a deer by the river.",
    # a chorus sung three times, and code that repeats a line: laid out in lines
    "Boats go out at the break of day,\nSplash, splash, the waves say hi,\nGulls fly high\n"
    "Splash, splash, the waves say hi,\nFish swim deep\nSplash, splash, the waves say hi,",
    "def f(a, b):\n    total = a + b\n    print(total)\n    total = a + b\n    return total\n"
    "def g(a, b):\n    total = a + b\n    return total",
    # a citation's "N.p., n.d." holds no words
    'Smith, J. "Blogs." N.p., n.d. Web. Jones, K. "Wikis." N.p., n.d. Web. Lee, M. "Feeds." '
    "N.p., n.d. Web.",
])
def test_looping_sentence_near_misses(text):
    assert not detect_looping(text).flag, detect_looping(text).message


@pytest.mark.parametrize("text,sentences", [
    ('"Every storm stops," his mom said. Ben cried.',
     ['"Every storm stops," his mom said.', "Ben cried."]),
    ('"Stop!" she said. "Yes!" Tom said.', ['"Stop!" she said.', '"Yes!"', "Tom said."]),
    ("Mr. Brown met J. K. Rowling, e.g. at noon. It was 3.14 miles away...  Then he left!",
     ["Mr. Brown met J. K. Rowling, e.g. at noon.", "It was 3.14 miles away...",
      "Then he left!"]),
    ("1. Fill a pot.\n2. Water it\n\n  Done.  ", ["1. Fill a pot.", "2. Water it", "Done."]),
    ("Mom said, “Go to bed.” Tom went.", ["Mom said, “Go to bed.”", "Tom went."]),
    ("", []),
])
def test_sentence_spans(text, sentences):
    assert [text[s.start:s.end] for s in sentence_spans(text)] == sentences


def test_repeated_sentences_and_verse():
    text = "The dog ran. Tom said it was fine. the DOG ran! Tom said it was fine. Ok. 1 2 3."
    groups, n = repeated_sentences(text, 4)          # "The dog ran" has 3 words: too short
    assert n == 6 and groups == [[Span(13, 34), Span(48, 69)]]
    assert text[13:34] == text[48:69] == "Tom said it was fine."
    groups, _ = repeated_sentences(text, 3)
    assert groups == [[Span(0, 12), Span(35, 47)], [Span(13, 34), Span(48, 69)]]  # earliest first
    assert is_verse("Roses are red,\nViolets are blue,\nSugar is sweet,\nAnd so are you.")
    assert not is_verse("One.\nTwo.\nThree,\nFour.") and not is_verse("a,\nb,\nc")


# ---------------------------------------------------------------------------------------
# No-stop, empty, echo


def test_no_stop():
    assert detect_no_stop("length").flag
    assert not detect_no_stop("end").flag and not detect_no_stop("stop_string").flag
    f = detect_no_stop(None)
    assert not f.flag and f.message == "stop reason unknown"


@pytest.mark.parametrize("text,empty", [("", True), ("  \n\t", True), (".", False), ("a", False)])
def test_empty(text, empty):
    assert detect_empty(text).flag is empty


def test_echo_instruction_copied_back():
    prompt = "Explain what a black hole is in simple words."
    f = detect_echo(prompt, prompt)
    assert f.flag and f.score == 1.0 and f.spans == (Span(0, len(prompt)),)
    upper = detect_echo("EXPLAIN WHAT A BLACK HOLE IS.", prompt)
    assert upper.flag


def test_echo_spans_are_the_copied_stretches():
    prompt = "Summarize: The library will close early on Friday."
    text = "The library will close early on Friday. Friday."
    f = detect_echo(text, prompt)
    assert f.flag and spans_text(text, f) == ["The library will close early on Friday."]
    assert f.score == pytest.approx(8 / 10)


@pytest.mark.parametrize("text,prompt", [
    ("The capital of France is Paris.", "What is the capital of France?"),
    ("What is the capital of France? The capital of France is Paris.",
     "What is the capital of France?"),
    ("He goes to school every day.", "Correct the grammar: He go to school every day."),
    ("Yes.", "Is the sun a star? Answer yes or no."),
    ("Paris", "What is the capital of France? Paris or Lyon?"),
    ("anything at all", ""),
])
def test_echo_near_misses(text, prompt):
    assert not detect_echo(text, prompt).flag


def test_echo_reports_new_words():
    f = detect_echo("Please turn off the light.", "Rewrite: I would like you to turn off the light.")
    assert not f.flag and "adds words of its own ('please')" in f.message


# ---------------------------------------------------------------------------------------
# diagnose() and summarize()


def test_diagnose_bundles_everything():
    d = diagnose("Paris.\n\n### Instruction:\nName a river.", prompt="Capital of France?",
                 stop_reason="length", template="alpaca", token_ids=[1, 2, 3],
                 reference="Paris", category="capital of X")
    assert d.flags == {"leakage": True, "looping": False, "no_stop": True, "empty": False,
                       "echo": False}
    assert d.flagged == ["leakage", "no_stop"]
    assert d.tokens == 3 and d.words == 6 and d.chars == len(d.response)
    assert d.exact_match == 0.0 and 0 < d.f1 < 1
    assert d.evidence() == [(Span(8, 24), "leakage")]
    out = d.to_dict()
    json.dumps(out)
    assert out["findings"]["leakage"]["spans"] == [[8, 24]]
    assert set(out["findings"]) == set(DETECTORS)
    assert out["category"] == "capital of X"


def test_diagnose_story_ending_and_errors():
    d = diagnose("Tom lost his ball. He cried. He never found it again.",
                 requested_ending="Happy", template=get_template("story"))
    assert d.requested_ending == "happy" and d.ending.label == "sad" and d.ending_adhered is False
    assert d.ending_note == "ending sad ✗ (asked happy)"  # what Chat and `generate` print
    assert diagnose("x").ending_adhered is None and diagnose("x").ending_note is None
    with pytest.raises(ValueError, match="stop reason 'lenght'"):
        diagnose("x", stop_reason="lenght")
    with pytest.raises(ValueError, match="expected happy or sad"):
        diagnose("x", requested_ending="funny")


def test_unfinished_story_has_no_ending_yet():
    story = "Tom lost his ball. He looked and looked. Then he saw something by the"
    d = diagnose(story, stop_reason="length", requested_ending="sad")
    assert d.ending_unfinished and d.ending_adhered is False    # asked for one, got none
    assert d.ending_note == "ending unfinished (asked sad)"    # not "ending sad ✓"
    assert d.ending.label == "sad"                  # the classifier still reads the text so far
    out = d.to_dict()
    json.dumps(out)
    assert out["ending_unfinished"] is True and out["ending_adhered"] is False
    happy = diagnose(story, stop_reason="length", requested_ending="happy")
    assert happy.ending_note == "ending unfinished (asked happy)"      # not "✗"
    done = diagnose(story + " tree.", stop_reason="end", requested_ending="sad")
    assert not done.ending_unfinished and done.ending_note == "ending sad ✓"
    assert done.to_dict()["ending_unfinished"] is False
    for other in (diagnose(story, stop_reason="length"),              # no ending asked for
                  diagnose(story, requested_ending="sad")):           # stop reason unknown
        assert not other.ending_unfinished
    assert diagnose(story, stop_reason="length").ending_note is None
    # the CLI's plain-text line (diagnose, compare) says unfinished, not MISMATCH
    assert happy.ending_line == "ending: unfinished (asked happy; cut at the token limit)"
    assert done.ending_line == "ending: sad (asked sad) ok"
    assert diagnose(story + " tree.", stop_reason="end",
                    requested_ending="happy").ending_line == "ending: sad (asked happy) MISMATCH"
    assert diagnose(story, stop_reason="length").ending_line is None
    assert "ending_unfinished" not in diagnose(story, stop_reason="length").to_dict()


def test_summarize_counts_unfinished_stories_as_not_adhered():
    ds = [diagnose("Tom found his ball. He smiled.", stop_reason="end", requested_ending="happy"),
          diagnose("Tom lost his ball. He cried.", stop_reason="end", requested_ending="happy"),
          diagnose("Tom found his ball and he smiled and", stop_reason="length",
                   requested_ending="happy"),
          diagnose("Mia lost her cat. She cried and", stop_reason="length",
                   requested_ending="sad"),
          diagnose("no story asked for", stop_reason="length")]
    ending = summarize(ds)["ending"]
    assert ending == {"n": 4, "accuracy": 0.25, "unfinished": 2,
                      "confusion": {"happy": {"happy": 1, "sad": 1, "unknown": 0, "unfinished": 1},
                                    "sad": {"happy": 0, "sad": 0, "unknown": 0, "unfinished": 1}}}
    # every story asked for an ending is in one cell: none dropped, none counted twice
    assert sum(sum(row.values()) for row in ending["confusion"].values()) == ending["n"]
    # the same keys whatever the input, so base and SFT line up
    finished = summarize(ds[:2])["ending"]
    assert finished["unfinished"] == 0 and finished["accuracy"] == 0.5
    assert finished["confusion"]["sad"]["unfinished"] == 0
    assert summarize(ds[4:])["ending"] is None


def test_summarize_rates_and_metrics():
    ds = [
        diagnose("Paris.", stop_reason="end", reference="Paris", category="capital"),
        diagnose("Rome is it.", stop_reason="length", reference="Rome", category="capital"),
        diagnose("", stop_reason="end", reference="4", category="arithmetic"),
        diagnose("The cat sat on the mat. " * 4, stop_reason="length", token_ids=[0] * 40),
    ]
    s = summarize(ds)
    assert s["n"] == 4
    assert (s["leakage"], s["looping"], s["no_stop"], s["empty"], s["echo"]) == (0, .25, .5, .25, 0)
    assert s["any"] == 0.75 and s["counts"]["any"] == 3
    assert s["stop_reasons"] == {"end": 2, "stop_string": 0, "length": 2, "unknown": 0}
    assert s["mean_tokens"] == 40 and s["mean_words"] == (1 + 3 + 0 + 24) / 4
    assert s["n_reference"] == 3 and s["exact_match"] == pytest.approx(1 / 3)
    assert s["by_category"]["capital"] == {"n": 2, "exact_match": 0.5, "f1": pytest.approx(0.75)}
    assert s["by_category"]["arithmetic"]["exact_match"] == 0.0
    assert s["ending"] is None
    json.dumps(s)
    empty = summarize([])
    assert empty["n"] == 0 and empty["leakage"] is None and empty["exact_match"] is None


# ---------------------------------------------------------------------------------------
# Metrics


@pytest.mark.parametrize("text,norm", [
    ("  The capital is PARIS. ", "the capital is paris"),
    ("“Paris!”", "paris"),
    ("3.14", "3.14"),
    ("a,  b\n and c.", "a, b and c"),
    ("...", ""),
])
def test_normalize_answer(text, norm):
    assert normalize_answer(text) == norm


def test_exact_match_and_f1():
    assert exact_match("The capital of France is Paris.", "the capital of france is paris") == 1.0
    assert exact_match("Paris", ["Lyon", "paris."]) == 1.0
    assert exact_match("Paris is nice", "Paris") == 0.0
    assert answer_words("Red, blue and green.") == ["red", "blue", "and", "green"]
    assert token_f1("red, blue, green", "red, blue, green") == 1.0
    # 2 common of 3 predicted and 4 reference words: P 2/3, R 1/2 -> F1 4/7
    assert token_f1("red blue yellow", "red, blue and green") == pytest.approx(4 / 7)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
    with pytest.raises(ValueError):
        exact_match("x", [])


def test_answer_scores_per_category():
    out = answer_scores([("Paris", "Paris", "capital"), ("56", "54", "arithmetic"),
                         ("Lima", "Lima", None)])
    assert out["n"] == 3 and out["exact_match"] == pytest.approx(2 / 3)
    assert list(out["by_category"]) == ["arithmetic", "capital"]


# ---------------------------------------------------------------------------------------
# Ending classifier


def test_classify_ending_evidence_and_negation():
    story = "Mia lost her kite. She looked everywhere. She was not sad anymore when she found it."
    r = classify_ending(story)
    assert r.label == "happy"
    cues = [(c.word, c.label, c.negated, story[c.start:c.end]) for c in r.cues]
    assert cues == [("lost", "sad", False, "lost"), ("sad", "happy", True, "sad"),
                    ("found", "happy", False, "found")]
    assert r.window == (0, len(story))          # three sentences: all of them
    assert classify_ending("He could not stop laughing.").label == "happy"
    assert classify_ending("But the truck did not stop.").label == "sad"


def test_classify_ending_reads_the_last_sentences_then_widens():
    story = "Tom was happy. He had fun. He was glad. Then it rained. The end came. It was late."
    r = classify_ending(story)
    assert r.label == "sad" and story[r.window[0]:].startswith("Then it rained")
    tie = "Tom was happy. Then it rained. The sun came. They went home."
    r = classify_ending(tie)
    assert r.label == "happy" and r.window[0] == 0        # widened to the whole story
    r = classify_ending("They went home.")
    assert r.label == "unknown" and r.score == 0.5
    bare = classify_ending("There were no apples left.")
    assert bare.label == "sad" and bare.sad == 0.5       # a bare negator weighs 0.5


def test_ending_report_and_normalize():
    rep = ending_report([("happy", "happy"), ("sad", "happy"), ("sad", "unknown"), ("sad", "sad")])
    assert rep == {"n": 4, "accuracy": 0.5,
                   "confusion": {"happy": {"happy": 1, "sad": 0, "unknown": 0},
                                 "sad": {"happy": 1, "sad": 1, "unknown": 1}}}
    assert ending_report([])["accuracy"] is None
    for value, label in [("Happy", "happy"), ("sad ending", "sad"), ("BadEnding", "sad"),
                         ("good", "happy")]:
        assert normalize_ending(value) == label


# ---------------------------------------------------------------------------------------


def test_diagnose_imports_neither_torch_nor_the_ui():
    code = ("import workbench.diagnose, workbench.commands.diagnose, sys\n"
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    for heavy in ("torch", "textual", "numpy", "screens"):
        assert heavy not in out
