"""The Chat screen with a LoRA session as the SFT model: the base model is the adapter's own
base with the adapter off, loaded once (two forward passes over one copy of the weights)."""

from __future__ import annotations

import json

from conftest import sync


@sync
async def test_a_lora_session_shares_its_base_with_the_base_pane(tmp_path, monkeypatch):
    import torch

    from screens.app import make_app
    from workbench.model import GPT, GPTConfig, save_model
    from workbench.model.lora import AdaptersOff
    from workbench.tokenizer import ByteTokenizer
    from workbench.train import loop
    from workbench.train.config import TrainConfig

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    base = tmp_path / "base"
    save_model(GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, n_positions=128, vocab_size=257)),
               ByteTokenizer(), base)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"say {w}", "input": "", "output": w}) + "\n"
                            for w in ["cat", "dog", "owl", "bee"] * 6))
    sessions = tmp_path / "sessions"
    config = TrainConfig(model=str(base), data=str(data), template="inst-resp", max_len=64,
                         batch_size=4, max_steps=4, lr=1e-2, lora_r=4, device="cpu", threads=1,
                         sample_every=0)
    assert loop.run(config, sessions / "lo", sessions_dir=sessions) == "finished"
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"model": str(base), "session": "lo"}))
    app = make_app(state_file=state, sessions_dir=sessions, start_mode="chat")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        for _ in range(200):
            await pilot.pause(0.05)
            if screen._models["base"] is not None and screen._models["sft"] is not None:
                break
        base_model, sft = screen._models["base"], screen._models["sft"]
        assert isinstance(base_model.model, AdaptersOff) and base_model.model.inner is sft.model
        assert screen._status["base"] == "shared"
        head = screen.query_one("#head-base").render()
        assert "shared (adapter off)" in str(getattr(head, "plain", head))
        assert "LoRA r=4" in str(getattr(screen.query_one("#head-sft").render(), "plain", ""))
