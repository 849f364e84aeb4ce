"""Fault injection on a tiny model: a session is never corrupted, an input never crashes.

* kill -9 at seeded random moments (during steps and during a save), then resume: every
  checkpoint stays loadable, each step is in the session's files once and in order, and
  the final weights equal a straight run's;
* two trainers on one session: one trains, the other is refused (exit 2) naming the pid;
* a corrupt optimizer state: refused with the file and the problem, the previous
  checkpoint offered, never a crash;
* a save that fails (ENOSPC, EROFS: simulated on the writes; on a real small tmpfs when
  the test runs as root and can mount one): `failed` with what to do, exit 2, no partial
  folder left, earlier checkpoints intact;
* bad data: an invalid UTF-8 byte in a JSONL value, one odd first row, a wrong format.

The subprocess runs slow each step down a little (a test launcher patches the loop), so
a kill lands where the seed says, not after the run is already over.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import ROOT
from workbench.cli import main
from workbench.fsutil import read_jsonl
from workbench.sessions import read_index, read_status
from workbench.train import loop
from workbench.train.config import TrainConfig

# A launcher for `workbench ...` that makes each step take ~40 ms and can stall in a save
# (writing a marker file first) so that a kill lands in the middle of one.
LAUNCHER = """
import os, sys, time
from pathlib import Path
from workbench.train import loop
_lr = loop.lr_at
loop.lr_at = lambda *a: (time.sleep(float(os.environ.get("STEP_SLEEP", "0.04"))), _lr(*a))[1]
marker = os.environ.get("SAVE_MARKER")
if marker:
    import workbench.model as m, workbench.model.load as l
    _save = l.save_model
    def slow_save(*a, **k):
        Path(marker).write_text("saving")
        time.sleep(3)
        return _save(*a, **k)
    l.save_model = m.save_model = slow_save
from workbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def data(tmp_path) -> Path:
    rows = [{"instruction": f"Repeat {w} twice", "input": "", "output": f"{w} {w}"}
            for w in ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu "
                      "xi omicron pi rho sigma tau upsilon phi chi psi omega one two three four "
                      "five six seven eight").split() * 2]
    path = tmp_path / "repeat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny(data: Path, **overrides) -> TrainConfig:
    values = dict(model="scratch", tokenizer="bytes", n_layer=1, n_head=2, n_embd=32,
                  n_positions=128, data=str(data), template="inst-resp", max_len=64,
                  batch_size=4, lr=3e-3, max_steps=12, save_every=3, keep_last=2,
                  eval_every=3, sample_every=0, device="cpu", threads=1, seed=1)
    values.update(overrides)
    return TrainConfig(**values)


def spawn(args: list[str], env: dict | None = None) -> subprocess.Popen:
    full = dict(os.environ, **(env or {}))
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, *args], cwd=ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def weights(session: Path, which: str = "latest") -> dict:
    from safetensors.torch import load_file

    from workbench.sessions import resolve_checkpoint

    return load_file(str(resolve_checkpoint(session, which) / "model.safetensors"))


def assert_intact(session: Path) -> None:
    """Every checkpoint the index lists is whole and loads; status.json parses."""
    from safetensors.torch import load_file

    from workbench.train.checkpoint import load_trainer_state

    json.loads((session / "status.json").read_text())
    for entry in read_index(session).get("checkpoints", []):
        folder = session / "checkpoints" / entry["name"]
        assert folder.is_dir(), f"{entry['name']} listed but missing"
        load_file(str(folder / "model.safetensors"))
        assert load_trainer_state(folder)["step"] == entry["step"]


def steps_in(session: Path, name: str) -> list[int]:
    return [r["step"] for r in read_jsonl(session / name)]


# ----------------------------------------------------------------------------------------
# kill -9


def test_kill_minus_9_at_random_moments_then_resume_equals_a_straight_run(data, tmp_path):
    config = tiny(data, max_steps=30)
    straight = tmp_path / "straight" / "run"
    assert loop.run(config, straight) == "finished"
    want = weights(straight)

    sessions = tmp_path / "sessions"
    toml = tmp_path / "run.toml"
    toml.write_text(config.to_toml())
    session = sessions / "chaos"
    rng = random.Random(7)
    kills = 0
    for attempt in range(4):
        args = (["train", str(toml), "--session", "chaos"] if attempt == 0 else
                ["train", "--resume", "chaos"]) + ["--sessions", str(sessions), "--quiet"]
        marker = tmp_path / f"saving-{attempt}"
        in_save = attempt == 2  # one kill lands inside a checkpoint's save
        proc = spawn(args, {"SAVE_MARKER": str(marker)} if in_save else None)
        target = rng.randint(2, 8)  # kill once this many more steps are logged
        start = len(steps_in(session, "metrics.jsonl"))
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if in_save and marker.exists():
                break
            if not in_save and len(steps_in(session, "metrics.jsonl")) >= start + target:
                break
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
        assert_intact(session)
        from workbench.train.status import check_alive

        state = check_alive(session)["state"]
        assert state in ("failed", "finished"), state
        if state == "finished":
            break
    assert kills >= 2
    if read_status(session).get("state") != "finished":
        proc = spawn(["train", "--resume", "chaos", "--sessions", str(sessions), "--quiet"],
                     {"STEP_SLEEP": "0"})
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert read_status(session)["state"] == "finished"
    assert_intact(session)
    assert not list((session / "checkpoints").glob(".step-*.tmp"))
    # each step once, in order, in every file a resumed run writes again
    assert steps_in(session, "metrics.jsonl") == list(range(1, 31))
    assert steps_in(session, "batches.jsonl") == list(range(1, 31))
    assert steps_in(session, "eval.jsonl") == sorted(set(steps_in(session, "eval.jsonl")))
    got = weights(session)
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want), "resumed weights differ"


# ----------------------------------------------------------------------------------------
# one trainer per session


def test_two_trainers_on_one_session(data, tmp_path):
    config = tiny(data, max_steps=20)
    toml = tmp_path / "run.toml"
    toml.write_text(config.to_toml())
    sessions = tmp_path / "sessions"
    args = ["train", str(toml), "--session", "dup", "--sessions", str(sessions), "--quiet"]
    slow = {"STEP_SLEEP": "0.15"}  # the first is still training when the second asks
    a, b = spawn(args, slow), spawn(args, slow)
    (out_a, err_a), (out_b, err_b) = a.communicate(timeout=120), b.communicate(timeout=120)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (err_a, err_b)
    refused = err_a if a.returncode == 2 else err_b
    assert "session dup is being trained by pid" in refused
    assert len(refused.strip().splitlines()) == 1 and "Traceback" not in refused
    session = sessions / "dup"
    assert read_status(session)["state"] == "finished"
    assert steps_in(session, "metrics.jsonl") == list(range(1, 21))
    assert "Traceback" not in (session / "train.log").read_text()


def test_two_detached_starts_and_a_resume_while_running(data, tmp_path):
    config = tiny(data, max_steps=60)
    toml = tmp_path / "run.toml"
    toml.write_text(config.to_toml())
    sessions = tmp_path / "sessions"
    env = dict(os.environ, STEP_SLEEP="0.05")
    base = [sys.executable, "-c", LAUNCHER, "train", str(toml), "--session", "bg",
            "--sessions", str(sessions), "--detach"]
    first = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    second = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert first.returncode == 0 and "started session bg" in first.stdout
    assert second.returncode == 2 and "started" not in second.stdout
    assert "already exists" in second.stderr or "being trained by pid" in second.stderr
    # a foreground resume of the running session is refused too
    res = subprocess.run([sys.executable, "-m", "workbench", "train", "--resume", "bg",
                          "--sessions", str(sessions)], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 2 and "session bg is being trained by pid" in res.stderr
    from workbench.train import runner

    assert runner.stop("bg", sessions)
    for _ in range(600):
        if read_status(sessions / "bg").get("state") in ("stopped", "finished"):
            break
        time.sleep(0.1)
    assert read_status(sessions / "bg")["state"] in ("stopped", "finished")
    steps = steps_in(sessions / "bg", "metrics.jsonl")
    assert steps == list(range(1, len(steps) + 1))


# ----------------------------------------------------------------------------------------
# corrupt trainer state


def _stopped_run(data, sessions: Path, name: str = "r") -> Path:
    import threading

    stop = threading.Event()
    config = tiny(data, max_steps=12, save_every=3, keep_last=3, eval_every=0)

    def on_step(m):
        if m["step"] == 6:
            stop.set()

    assert loop.run(config, sessions / name, stop=stop, on_step=on_step,
                    sessions_dir=sessions) == "stopped"
    return sessions / name


def test_a_corrupt_optimizer_state_is_refused_with_the_previous_checkpoint_offered(
        data, tmp_path, capsys):
    sessions = tmp_path / "sessions"
    session = _stopped_run(data, sessions)
    state_file = session / "checkpoints" / "step-6" / "trainer_state.pt"
    state = torch.load(state_file, weights_only=True)
    for entry in state["optimizer"]["state"].values():  # moments of another model's shapes
        entry["exp_avg"] = torch.zeros(3, 5)
    torch.save(state, state_file)
    code = main(["train", "--resume", "r", "--sessions", str(sessions), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(state_file) in err and "exp_avg has shape (3, 5)" in err
    assert "--resume r --from step-3" in err
    status = read_status(session)
    assert status["state"] == "failed" and "exp_avg" in status["error"]
    # the offered checkpoint resumes and the run finishes
    code = main(["train", "--resume", "r", "--from", "step-3", "--sessions", str(sessions),
                 "--quiet"])
    assert code == 0 and read_status(session)["state"] == "finished"
    assert steps_in(session, "metrics.jsonl") == list(range(1, 13))


def test_an_empty_trainer_state_is_refused(data, tmp_path, capsys):
    sessions = tmp_path / "sessions"
    session = _stopped_run(data, sessions)
    torch.save({}, session / "checkpoints" / "step-6" / "trainer_state.pt")
    code = main(["train", "--resume", "r", "--sessions", str(sessions), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "no 'optimizer'" in err and "internal error" not in err


# ----------------------------------------------------------------------------------------
# save failures


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "the disk is full"),
                                        (errno.EROFS, "read-only")])
def test_a_save_that_fails_ends_failed_with_what_to_do(data, tmp_path, monkeypatch, capsys,
                                                       code, words):
    from workbench.train import checkpoint

    calls = {"n": 0}
    real = checkpoint._fsync_tree

    def failing(folder):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint: half written when the disk says no
            raise OSError(code, os.strerror(code))
        return real(folder)

    monkeypatch.setattr(checkpoint, "_fsync_tree", failing)
    sessions = tmp_path / "sessions"
    toml = tmp_path / "run.toml"
    toml.write_text(tiny(data).to_toml())
    rc = main(["train", str(toml), "--session", "s", "--sessions", str(sessions), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert words in err and "save checkpoint step-6" in err and "--resume s" in err
    session = sessions / "s"
    status = read_status(session)
    assert status["state"] == "failed" and words in status["error"]
    assert not list((session / "checkpoints").glob(".step-*"))  # the partial one is gone
    assert read_index(session)["latest"] == "step-3"
    assert_intact(session)


def test_keep_last_1_needs_room_for_one_checkpoint_besides_the_kept(data, tmp_path, monkeypatch):
    """Before a save, the checkpoint it makes obsolete goes first when another one (the
    best) stays as a fallback: the disk never holds best + latest + new at once."""
    from workbench.train import checkpoint

    seen = []
    real = checkpoint._fsync_tree

    def count(folder):
        root = folder.parent
        seen.append(sorted(p.name for p in root.iterdir() if p.name.startswith(("step-", ".step-"))))
        return real(folder)

    monkeypatch.setattr(checkpoint, "_fsync_tree", count)
    # the loss rises (lr far too high), so the best stays an early step, not the latest
    config = tiny(data, max_steps=12, save_every=2, keep_last=1, eval_every=2, lr=0.5)
    assert loop.run(config, tmp_path / "run") == "finished"
    assert max(len(names) for names in seen) <= 2, seen


def test_the_stale_run_check_never_raises_on_a_full_disk(data, tmp_path, monkeypatch):
    from workbench.train import status as status_mod

    session = tmp_path / "dead"
    session.mkdir()
    (session / "status.json").write_text(json.dumps({"state": "running", "pid": 999999999,
                                                     "step": 4}))

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(status_mod, "write_json_atomic", full)
    got = status_mod.check_alive(session)
    assert got["state"] == "failed" and got["killed"]


def _can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = Path("/tmp") / f"wb-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                        capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", str(probe)], capture_output=True)
    probe.rmdir()
    return ok


@pytest.fixture
def small_disk(tmp_path):
    if not _can_mount():
        pytest.skip("a real small disk needs root and a tmpfs mount; the simulated "
                    "ENOSPC/EROFS tests cover the same code")
    where = tmp_path / "disk"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(where)], check=True)
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_real_full_disk_mid_run(data, small_disk, capsys):
    sessions = small_disk / "sessions"

    def fill(m):
        if m["step"] == 4:  # after the step-3 checkpoint: fill what is left
            with open(small_disk / "filler", "wb") as fh:
                try:
                    while True:
                        fh.write(b"\0" * 65536)
                        fh.flush()
                except OSError:
                    pass

    with pytest.raises(loop.SaveFailed, match="the disk is full"):
        loop.run(tiny(data), sessions / "full", on_step=fill, sessions_dir=sessions)
    session = sessions / "full"
    assert not list((session / "checkpoints").glob(".step-*"))
    assert read_index(session)["latest"] == "step-3"
    assert_intact(session)
    status = read_status(session)
    assert status["state"] == "failed" and "the disk is full" in status["error"]


def test_a_real_read_only_folder_at_start(data, small_disk, tmp_path, capsys):
    """(Mid-run, the folder cannot be remounted read-only under the trainer's own open lock
    file: the simulated EROFS test covers that path.)"""
    sessions = small_disk / "sessions"
    sessions.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        toml = tmp_path / "run.toml"
        toml.write_text(tiny(data).to_toml())
        rc = main(["train", str(toml), "--session", "ro", "--sessions", str(sessions), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and "read-only" in err and "--sessions DIR" in err
        assert "Traceback" not in err and "internal error" not in err
        rc = main(["train", str(toml), "--session", "ro2", "--sessions", str(sessions),
                   "--detach"])
        err = capsys.readouterr().err
        assert rc == 2 and "read-only" in err
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)


# ----------------------------------------------------------------------------------------
# bad data


def test_invalid_utf8_inside_a_jsonl_value_is_one_bad_row(tmp_path):
    f = tmp_path / "bytes.jsonl"
    f.write_bytes(b'{"instruction": "a", "input": "", "output": "b"}\n'
                  b'{"instruction": "c\xff\xfe", "input": "", "output": "d"}\n'
                  b'{"instruction": "e", "input": "", "output": "f"}\n')
    res = subprocess.run([sys.executable, "-m", "workbench", "data", "show", str(f), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["splits"] == {"train": 2} and out["bad_rows"]["counts"] == {"invalid UTF-8": 1}
    assert [r["row"] for r in out["rows"]] == [0, 2]


def test_one_odd_first_row_does_not_decide_the_format(tmp_path):
    f = tmp_path / "odd.jsonl"
    rows = [{"prompt": "p", "response": "r"}] + [
        {"instruction": f"i{k}", "input": "" if k % 2 else None, "output": f"o{k}"}
        for k in range(20)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from workbench.data.sources import open_dataset

    ds = open_dataset(str(f))
    assert ds.format == "alpaca" and ds.num_rows() == 20 and ds.bad.total == 1


def test_a_detected_format_that_drops_most_rows_asks_for_format(tmp_path, capsys):
    f = tmp_path / "mostly-other.jsonl"
    rows = [{"question": "q"}] * 15 + [{"instruction": f"i{k}", "input": "", "output": f"o{k}"}
                                       for k in range(5)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(["batch", str(f), "--tokenizer", "bytes"])
    err = capsys.readouterr().err
    assert code == 2 and "15 of 20 rows lack its fields" in err and "pass --format" in err
    code = main(["train", "--data", str(f), "--model", "scratch", "--tokenizer", "bytes",
                 "--max-steps", "1", "--sessions", str(tmp_path / "sessions"), "--quiet"])
    assert code == 2
    assert not (tmp_path / "sessions").exists() or not any((tmp_path / "sessions").iterdir())


def test_names_never_reach_outside_the_sessions_folder(tmp_path, capsys):
    for argv in (["train", "--resume", "../../outside/x"], ["train", "--stop", "../x"],
                 ["batch", "--session", "../x", "--step", "1"],
                 ["generate", "--model", "src@../../k9/checkpoints/step-80", "--prompt", "hi"]):
        (tmp_path / "sessions" / "src" / "checkpoints").mkdir(parents=True, exist_ok=True)
        (tmp_path / "sessions" / "src" / "config.toml").write_text("")
        code = main([*argv, "--sessions", str(tmp_path / "sessions")])
        err = capsys.readouterr().err
        assert code == 2, argv
        assert "session name" in err or "use latest, best or step-N" in err, err
