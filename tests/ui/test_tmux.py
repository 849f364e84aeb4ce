"""The workbench in a real terminal: tmux starts `workbench`, keys are sent with send-keys,
the screen is read with capture-pane, and the process must exit 0.

Part 1 (issue 7): open on fixture data, switch through the five screens, quit.
Part 2 (issue 8): launch a training run from the Train screen, quit the app, check that the
run goes on (status and metrics advance), reopen the app and see the run.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "ui" / "batches" / "alpaca.jsonl"

pytestmark = [pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
              pytest.mark.slow]


class Terminal:
    """One tmux server of our own (its own socket), one window per app run."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.sock = str(tmp / "tmux.sock")
        self.env = env
        self.tmp = tmp
        self.n = 0

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                              check=False).stdout

    def start(self, argv: list[str], cols: int = 120, rows: int = 36,
              linger: float = 0) -> tuple[str, Path]:
        """`linger`: seconds the pane stays after the app exits (to read what it printed)."""
        self.n += 1
        name = f"app{self.n}"
        rc = self.tmp / f"{name}.rc"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        cmd = (f"cd {shlex.quote(str(ROOT))} && env {exports} {shlex.quote(sys.executable)} -m "
               f"workbench {' '.join(shlex.quote(a) for a in argv)}; echo $? > {shlex.quote(str(rc))}"
               + (f"; sleep {linger}" if linger else ""))
        self.tmux("new-session", "-d", "-s", name, "-x", str(cols), "-y", str(rows), cmd)
        return name, rc

    def screen(self, name: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", name)

    def keys(self, name: str, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", name, key)
            time.sleep(0.3)

    def wait_text(self, name: str, text: str, timeout: float = 60) -> str:
        end = time.time() + timeout
        screen = ""
        while time.time() < end:
            screen = self.screen(name)
            if text in screen:
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")

    def wait_header(self, name: str, title: str, timeout: float = 60) -> str:
        """Wait until the header (the first line) names the screen `title`."""
        end = time.time() + timeout
        screen = ""
        while time.time() < end:
            screen = self.screen(name)
            if screen.splitlines() and screen.splitlines()[0].lstrip().startswith(title):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"the {title} screen never showed; the screen was:\n{screen}")

    def wait_exit(self, rc: Path, timeout: float = 30) -> int:
        end = time.time() + timeout
        while time.time() < end:
            if rc.exists() and rc.read_text().strip():
                return int(rc.read_text())
            time.sleep(0.2)
        raise AssertionError("the app did not exit")

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def term(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{}")  # not a first launch: no demo preload
    env = {"WORKBENCH_STATE": str(state), "WORKBENCH_CACHE": str(tmp_path / "cache"),
           "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color", "COLORTERM": "truecolor",
           "PATH": os.environ.get("PATH", "")}
    t = Terminal(tmp_path, env)
    yield t
    t.close()


def test_switch_screens_and_quit(term, tmp_path):
    name, rc = term.start(["--sessions", str(tmp_path / "sessions"), "--data", str(FIXTURE),
                           "--template", "alpaca"])
    first = term.wait_text(name, "alpaca.jsonl")
    assert "Data" in first
    term.wait_text(name, "alpaca (detected)")
    # 1-5 switch screens
    for keys, title in ((["2"], "Batches"), (["3"], "Train"), (["4"], "Chat")):
        term.keys(name, *keys)
        term.wait_header(name, title)
    # the Chat prompt takes the focus: what is typed lands in it (seen before going on, as a
    # person sees the cursor; keys sent earlier race the screen's start), and Escape leaves
    # it. The pause keeps Escape apart from the next key: read together, ESC+5 is a single
    # key to the terminal parser (Opt+5, "∞"), as over a laggy link.
    term.keys(name, "x")
    term.wait_text(name, "▊ x ")
    term.keys(name, "Escape")
    time.sleep(1.0)
    for keys, title in ((["5"], "Sessions"), (["1"], "Data")):
        term.keys(name, *keys)
        term.wait_header(name, title)
    term.keys(name, "F1")
    term.wait_text(name, "SFT Workbench: keys")
    term.keys(name, "Escape", "q")
    assert term.wait_exit(rc) == 0


def test_screen_keys_from_inside_the_chat_prompt_while_a_model_loads(term, tmp_path):
    """F2-F6 switch screens from inside a text field, and neither they nor Escape cancel
    the model being loaded (Escape once did: "loading cancelled")."""
    model = tmp_path / "tiny-model"
    _tiny_model(model)
    name, rc = term.start(["--sessions", str(tmp_path / "sessions"), "--data", str(FIXTURE),
                           "--template", "alpaca", "--model", str(model)])
    term.wait_text(name, "alpaca (detected)")
    term.keys(name, "F5")
    term.wait_header(name, "Chat")
    term.keys(name, "h", "i")                      # typed into the prompt, focused on arrival
    screen = term.wait_text(name, "▊ hi")
    loading = "loading" in screen                  # torch's import alone takes seconds here
    term.keys(name, "Escape")
    time.sleep(1.0)                                # ESC and the next key apart (see above)
    term.keys(name, "F2")                          # from the prompt to the Data screen
    term.wait_header(name, "Data")
    term.keys(name, "F4")
    term.wait_header(name, "Train")
    term.keys(name, "F5")
    term.wait_header(name, "Chat")
    screen = _wait(lambda: (lambda t: t if "loading" not in t else "")(term.screen(name)),
                   60, "the load to end")
    assert "cancelled" not in screen and "▊ hi" in screen and "BASE" in screen
    assert "error" not in screen.lower()
    assert loading, "the model had loaded before the keys were sent: the test proved nothing"
    term.keys(name, "C-q")
    assert term.wait_exit(rc) == 0


def _tiny_model(folder: Path) -> None:
    from workbench.model import save_model
    from workbench.model.toy import random_gpt
    from workbench.templates import get_template
    from workbench.tokenizer import ByteTokenizer

    tok = ByteTokenizer(list(get_template("inst-resp").special_tokens))
    save_model(random_gpt(vocab_size=tok.n_vocab, n_positions=512, n_embd=32, n_layer=2, n_head=2),
               tok, folder)


def _status(session: Path) -> dict:
    try:
        return json.loads((session / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _wait(pred, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_outlives_the_app_and_is_found_again(term, tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"What is {a} plus {b}?", "input": "",
                                        "output": f"{a + b}."}) + "\n"
                            for a in range(60) for b in range(50)))
    model = tmp_path / "tiny-model"
    _tiny_model(model)
    sessions = tmp_path / "sessions"
    argv = ["--sessions", str(sessions), "--data", str(data), "--template", "inst-resp",
            "--model", str(model)]
    name, rc = term.start(argv, linger=5)
    term.wait_text(name, "qa.jsonl")
    term.keys(name, "3")
    term.wait_header(name, "Train")
    term.keys(name, "C-s")                                  # launch with the prefilled form
    session = _wait(lambda: next((p for p in sessions.glob("*") if (p / "status.json").exists()),
                                 None), 60, "the session folder")
    _wait(lambda: _status(session).get("state") == "running" and _status(session).get("step", 0) >= 1,
          120, "the run to start")
    term.keys(name, "C-q")                                  # quit the app while it trains
    assert term.wait_exit(rc) == 0
    said = term.wait_text(name, "still training")           # and it says so, with the way back
    assert session.name in said.replace("\n", "") and "workbench" in said
    step = _status(session)["step"]
    lines = len((session / "metrics.jsonl").read_text().splitlines())
    # the run goes on without the app
    _wait(lambda: _status(session).get("step", 0) > step + 3, 120, "the step to advance")
    assert len((session / "metrics.jsonl").read_text().splitlines()) > lines
    assert _status(session)["state"] in ("running", "finished")
    # reopen: the Train screen follows the running session
    name2, rc2 = term.start(argv)
    term.wait_text(name2, "qa.jsonl")
    term.keys(name2, "3")
    term.wait_header(name2, "Train")
    screen = term.wait_text(name2, session.name)
    assert "running" in screen or "finished" in screen
    term.keys(name2, "C-q")
    assert term.wait_exit(rc2) == 0
    # tidy up: stop the run if it is still going
    subprocess.run([sys.executable, "-m", "workbench", "train", "--stop", session.name,
                    "--sessions", str(sessions)], capture_output=True, cwd=ROOT)
    _wait(lambda: _status(session).get("state") in ("stopped", "finished"), 120, "the run to end")
