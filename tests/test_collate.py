"""Collation pinned with exact ids (the chapter-7 worked example), the -100 rules, truncation,
padding, the three batchers, and a hypothesis property over random examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from workbench.collate import (END, IGNORE_INDEX, RESPONSE, Dropped, collate, collate_plan,
                               encode_example, encode_examples, explain_position, plan_batches,
                               plan_efficiency, row_warnings)
from workbench.data.records import Example, Message
from workbench.templates import FieldTemplate, get_template
from workbench.tokenizer import ByteTokenizer

EOS = 50256
# A bare template: prompt text then response, so ids are exactly what we choose.
BARE = FieldTemplate(name="bare", prompt="{instruction}")


def ex(instruction, response, row=0):
    return Example.single(instruction, response, row=row)


def test_chapter7_worked_example_loss_on_all(gpt2_tok):
    # '"#' -> [1, 2], '$' -> [3]: the example is tokens [1, 2, 3] + EOS.
    a = encode_example(ex('"#', "$"), BARE, gpt2_tok, loss_on="all")
    b = encode_example(ex('"#', "$%&", row=1), BARE, gpt2_tok, loss_on="all")  # 5 tokens + EOS
    assert a.ids.tolist() == [1, 2, 3, EOS] and b.ids.tolist() == [1, 2, 3, 4, 5, EOS]
    batch = collate([[a], [b]], pad_id=EOS)  # batch max length 6 -> 5 positions
    assert batch.input_ids[0].tolist() == [1, 2, 3, EOS, EOS]
    assert batch.labels[0].tolist() == [2, 3, EOS, -100, -100]
    assert batch.input_ids[1].tolist() == [1, 2, 3, 4, 5]
    assert batch.labels[1].tolist() == [2, 3, 4, 5, EOS]


def test_chapter7_loss_on_response_masks_the_two_prompt_tokens(gpt2_tok):
    a = encode_example(ex('"#', "$"), BARE, gpt2_tok, loss_on="response")
    b = encode_example(ex('"#', "$%&", row=1), BARE, gpt2_tok, loss_on="response")
    batch = collate([[a], [b]], pad_id=EOS)
    # position 0 predicts token 2 (prompt) -> -100; the response token and the EOS are targets
    assert batch.labels[0].tolist() == [-100, 3, EOS, -100, -100]
    assert batch.labels[1].tolist() == [-100, 3, 4, 5, EOS]
    assert batch.input_ids[0].tolist() == [1, 2, 3, EOS, EOS]


def test_multi_turn_chatml_trains_every_answer_and_each_end(gpt2_tok):
    chat = Example([Message("user", "Hi"), Message("assistant", "Hello there."),
                    Message("user", "And 2+2?"), Message("assistant", "Four.")], {"row": 0})
    t = get_template("chatml")
    enc = encode_example(chat, t, gpt2_tok)
    tok = gpt2_tok.with_special_tokens(t.special_tokens)
    user_id, asst_id, end_id = (tok.special_id(m) for m in ("<|user|>", "<|assistant|>", "<|end|>"))
    batch = collate([[enc]], pad_id=EOS)
    targets = [int(x) for x in batch.labels[0] if x != IGNORE_INDEX]
    expected = tok.encode("Hello there.") + [end_id] + tok.encode("Four.") + [end_id]
    assert targets == expected
    # no user token or role marker is a target
    for pos, label in enumerate(batch.labels[0]):
        target_token = enc.ids[pos + 1]
        if label == IGNORE_INDEX:
            assert enc.kinds[pos + 1] not in (RESPONSE, END)
        else:
            assert target_token not in (user_id, asst_id)
    assert list(enc.ids).count(end_id) == 2 and enc.end_trained


def test_loss_on_all_still_masks_pads(gpt2_tok):
    a = encode_example(ex("Tell me", "ok"), get_template("alpaca"), gpt2_tok, loss_on="all")
    b = encode_example(ex("Tell me a much longer thing please", "a longer answer here"),
                       get_template("alpaca"), gpt2_tok, loss_on="all")
    batch = collate([[a], [b]], pad_id=EOS)
    n = a.positions
    assert (batch.labels[0, :n] != IGNORE_INDEX).all()   # everything trained ...
    assert (batch.labels[0, n:] == IGNORE_INDEX).all()   # ... except the padding
    assert (batch.segment_ids[0, n:] == 0).all()


def test_pads_never_targets_with_sentinel_pad(gpt2_tok):
    # torchtune's trick: a pad id nothing else uses, so a padding bug cannot hide.
    encs = [encode_example(ex("q" * k, "a" * (k + 1), row=k), get_template("alpaca"), gpt2_tok)
            for k in range(1, 6)]
    batch = collate([[e] for e in encs], pad_id=-8, pad_to_multiple_of=8)
    assert batch.shape[1] % 8 == 0
    pads = batch.input_ids == -8
    assert pads.any() and (batch.labels[pads] == IGNORE_INDEX).all()
    assert not (batch.labels == -8).any()


def test_truncation_policy(gpt2_tok):
    t = get_template("alpaca")
    long = ex("Summarize.", "word " * 200, row=5)
    full = encode_example(long, t, gpt2_tok)
    cut = encode_example(long, t, gpt2_tok, max_len=60)
    assert cut.truncated and cut.positions == 60 and len(full.ids) > 61
    assert cut.ids.tolist() == full.ids[:61].tolist()          # prompt kept, response tail cut
    assert not cut.end_trained
    prompt_len = full.n_prompt
    with pytest.raises(Dropped, match="prompt alone fills max_len"):
        encode_example(long, t, gpt2_tok, max_len=prompt_len - 1)
    encoded = encode_examples([long, ex("Hi", "Hello", row=6)], t, gpt2_tok, max_len=prompt_len - 1)
    assert len(encoded) == 1 and encoded.dropped[0][0] == 5   # counted, with its row
    batch = collate_plan(encoded, [[0]], pad_id=EOS)
    assert batch.n_targets > 0                                 # never an all -100 row


def test_truncation_warning_and_pad_equals_eos_warning(gpt2_tok):
    t = get_template("alpaca")
    enc = encode_examples([ex("Summarize.", "word " * 50, row=3)], t, gpt2_tok, max_len=50)
    batch = collate_plan(enc, [[0]], pad_id=EOS)
    warnings = " | ".join(row_warnings(batch, 0, gpt2_tok))
    assert "cut by truncation" in warnings and "no trained end token" in warnings
    assert "pad id equals EOS" in warnings


def test_prompt_ending_with_space_is_flagged(gpt2_tok):
    t = FieldTemplate(name="spacey", prompt="Q: {instruction}\nA: ")
    enc = encode_examples([ex("2+2?", "4")], t, gpt2_tok)
    batch = collate_plan(enc, [[0]], pad_id=EOS)
    assert any("ends with a space" in w for w in row_warnings(batch, 0, gpt2_tok))


def test_explain_position(gpt2_tok):
    enc = encode_examples([ex('"#', "$"), ex('"#', "$%&", row=1)], BARE, gpt2_tok)
    batch = collate_plan(enc, [[0], [1]], pad_id=EOS)
    assert explain_position(batch, 0, 0, gpt2_tok)["why"].startswith("-100: the next token is prompt")
    info = explain_position(batch, 0, 2, gpt2_tok)
    assert info["trained"] and info["kind"] == "end" and info["target_id"] == EOS
    assert explain_position(batch, 0, 4, gpt2_tok)["kind"] == "pad"


def test_packed_rows_restart_positions_and_never_cross(gpt2_tok):
    t = get_template("alpaca")
    examples = [ex(f"Question number {i}?", "Answer " * (i % 7 + 1), row=i) for i in range(40)]
    enc = encode_examples(examples, t, gpt2_tok, max_len=256)
    plan = plan_batches(enc.lengths, 4, "packed", seed=1, max_len=256)
    assert sorted(i for b in plan for r in b for i in r) == list(range(40))
    batch = collate_plan(enc, plan[0], pad_id=EOS)
    assert batch.packed
    for r, parts in enumerate(batch.parts):
        assert len(parts) > 1
        for k, (idx, start, n) in enumerate(parts):
            assert batch.position_ids[r, start:start + n].tolist() == list(range(n))
            assert (batch.segment_ids[r, start:start + n] == k + 1).all()
            e = enc[idx]
            # every label equals the next token of the same example, or -100
            lab = batch.labels[r, start:start + n]
            nxt = e.ids[1:]
            assert ((lab == IGNORE_INDEX) | (lab == nxt)).all()


def test_plans_are_seeded(gpt2_tok):
    lengths = np.arange(1, 101)
    for batcher in ("random", "grouped", "packed"):
        a = plan_batches(lengths, 8, batcher, seed=3, max_len=128)
        b = plan_batches(lengths, 8, batcher, seed=3, max_len=128)
        c = plan_batches(lengths, 8, batcher, seed=3, epoch=1, max_len=128)
        assert a == b and a != c
        assert sorted(i for batch in a for row in batch for i in row) == list(range(100))


def test_grouped_and_packed_efficiency_on_real_data(gpt2_tok, rasbt_json):
    from workbench.data.sources import load_examples

    loaded = load_examples(str(rasbt_json))
    enc = encode_examples(loaded.examples, get_template("alpaca"), gpt2_tok, max_len=512)
    eff = {b: plan_efficiency(plan_batches(enc.lengths, 8, b, seed=0, max_len=512), enc.lengths)
           for b in ("random", "grouped", "packed")}
    assert eff["packed"] >= 0.97 and eff["grouped"] >= 0.90
    assert eff["random"] < eff["grouped"]


# ---------------------------------------------------------------------------------------
# Property: for random examples and every batcher, each non -100 target is the next input
# token of the same example, and the targets are exactly the response (+ end) tokens.

words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30)
turn_pairs = st.lists(st.tuples(words, words.filter(lambda s: s.strip())), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(turn_pairs, min_size=1, max_size=8),
       template=st.sampled_from(["alpaca", "chatml", "inst-resp", "phi3"]),
       batcher=st.sampled_from(["random", "grouped", "packed"]),
       use_bytes=st.booleans(), seed=st.integers(0, 10))
def test_property_targets_are_next_tokens_of_responses(data, template, batcher, use_bytes, seed):
    from conftest import GPT2_BPE
    from workbench.tokenizer import load_tokenizer

    if not use_bytes and not GPT2_BPE.exists():
        pytest.skip("shared GPT-2 files absent")
    tok = ByteTokenizer() if use_bytes else load_tokenizer(GPT2_BPE)
    t = get_template(template)
    examples = []
    for i, pairs in enumerate(data):
        if template != "chatml":
            pairs = pairs[:1]
        msgs = []
        for u, a in pairs:
            msgs += [Message("user", u), Message("assistant", a)]
        examples.append(Example(msgs, {"row": i}))
    enc = encode_examples(examples, t, tok, max_len=4096)
    assert len(enc) + len(enc.dropped) + len(enc.errors) == len(examples)
    full_tok = tok.with_special_tokens(t.special_tokens)
    for batch_plan in plan_batches(enc.lengths, 3, batcher, seed=seed, max_len=4096):
        batch = collate_plan(enc, batch_plan, pad_id=full_tok.eos_id)
        for r, parts in enumerate(batch.parts):
            covered = 0
            for idx, start, n in parts:
                e = enc[idx]
                lab = batch.labels[r, start:start + n]
                inp = batch.input_ids[r, start:start + n]
                assert (inp == e.ids[:-1]).all()
                trained = lab != IGNORE_INDEX
                # a target is the next input token of the same example
                assert (lab[trained] == e.ids[1:][trained]).all()
                # the targets are exactly the response and end tokens
                is_resp = (e.kinds[1:] == RESPONSE) | (e.kinds[1:] == END)
                assert (trained == is_resp).all()
                covered += n
            assert (batch.labels[r, covered:] == IGNORE_INDEX).all()
            assert (batch.segment_ids[r, covered:] == 0).all()
        # the end token of each response is trained
        for row in batch.examples:
            for e in row:
                assert e.end_trained
