"""A saved state file that is not what the app wrote (a wrong type, malformed JSON) never
stops the app: what can be read is kept, the rest falls back to its default, and a notice
says what was dropped."""

from __future__ import annotations

import json

import pytest

from conftest import sync


@pytest.mark.parametrize("content,words", [
    (json.dumps({"source": 5, "template": "alpaca", "recent": "x"}), "source 5 is not a str"),
    ("{not json", "not readable JSON"),
    (json.dumps(["a", "list"]), "expected a JSON object"),
])
@sync
async def test_a_bad_state_file_gives_a_notice_not_a_crash(tmp_path, monkeypatch, content, words):
    from screens.app import make_app

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    state = tmp_path / "state.json"
    state.write_text(content, encoding="utf-8")
    app = make_app(state_file=state, sessions_dir=tmp_path / "sessions")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        notes = [str(n.message) for n in app._notifications]
        assert any(words in n for n in notes), notes
        assert app.state.source == ""
        if "source 5" in words:
            assert app.state.template == "alpaca"  # the rest of the file is kept
