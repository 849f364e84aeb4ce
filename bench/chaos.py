"""The long fault campaign (not part of the tests): N kill -9 at seeded random moments
during a training run with a small `save_every`, a resume after each, then a comparison with
a straight run of the same config.

Prints, and writes to bench/results/chaos-<date>.json:
  corrupt checkpoints   checkpoints listed in index.json that do not load (must be 0)
  failed resumes        resumes that ended on their own with an error (must be 0); a kill
                        that lands before a resumed run's first step is counted apart
  steps lost            per kill: the last step logged before the kill minus the step the
                        resume restarted from (bounded by save_every)
  duplicate lines       steps that appear more than once in metrics.jsonl, eval.jsonl,
                        batches.jsonl (must be 0)
  weight difference     max |w_chaos - w_straight| over every weight (0: resume is exact)

    python bench/chaos.py                 # N = 20 kills, 4-layer byte-level model
    python bench/chaos.py --kills 5 --steps 80
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_data(path: Path, n: int = 400) -> Path:
    rng = random.Random(0)
    words = ("red green blue small large quick slow happy sad bright dark warm cold old new "
             "tall short soft loud calm").split()
    rows = []
    for i in range(n):
        k = rng.randint(2, 9)
        seq = [rng.choice(words) for _ in range(k)]
        rows.append({"instruction": f"Reverse these words: {' '.join(seq)}", "input": "",
                     "output": " ".join(reversed(seq))})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_steps(path: Path) -> list[int]:
    from workbench.fsutil import read_jsonl

    return [r["step"] for r in read_jsonl(path) if isinstance(r.get("step"), int)]


def check_checkpoints(session: Path) -> int:
    """How many checkpoints in the index do not load."""
    from safetensors.torch import load_file

    from workbench.sessions import read_index
    from workbench.train.checkpoint import load_trainer_state

    bad = 0
    for entry in read_index(session).get("checkpoints", []):
        folder = session / "checkpoints" / entry["name"]
        try:
            load_file(str(folder / "model.safetensors"))
            assert load_trainer_state(folder)["step"] == entry["step"]
        except Exception:  # noqa: BLE001 - counted
            bad += 1
    return bad


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--save-every", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default="/tmp/wb-chaos")
    args = p.parse_args()

    import shutil

    import torch
    from safetensors.torch import load_file

    from workbench.sessions import read_status, resolve_checkpoint
    from workbench.train.config import TrainConfig

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = make_data(work / "reverse.jsonl")
    config = TrainConfig(model="scratch", tokenizer="bytes", n_layer=4, n_head=4, n_embd=128,
                         n_positions=256, data=str(data), template="inst-resp", max_len=128,
                         batch_size=8, lr=1e-3, max_steps=args.steps, save_every=args.save_every,
                         keep_last=2, eval_every=args.save_every, sample_every=0, device="cpu",
                         threads=1, seed=3)
    # one thread: with two, a CPU backward can differ in the last bits from run to run (the
    # order of a parallel sum), which would hide whether resuming is exact
    toml = work / "run.toml"
    toml.write_text(config.to_toml())
    env = dict(os.environ, WORKBENCH_CACHE=str(work / "cache"))

    def train(session: str, resume: bool) -> subprocess.Popen:
        argv = ["--resume", session] if resume else [str(toml), "--session", session]
        return subprocess.Popen([sys.executable, "-m", "workbench", "train", *argv, "--sessions",
                                 str(work / "sessions"), "--quiet"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    t0 = time.time()
    straight = train("straight", False)
    _out, err = straight.communicate()
    assert straight.returncode == 0, err
    straight_s = time.time() - t0
    session = work / "sessions" / "chaos"
    rng = random.Random(args.seed)
    lost, failed_resumes, kills, corrupt, early = [], 0, 0, 0, 0
    resume = False
    while kills < args.kills:
        proc = train("chaos", resume)
        start_step = read_steps(session / "metrics.jsonl")[-1:] or [0]
        time.sleep(rng.uniform(2.5, 6.0))  # the start (imports, data) takes ~2 s
        if proc.poll() is not None:
            if read_status(session).get("state") == "finished":
                break
            failed_resumes += 1  # it ended by itself, not finished: a resume that failed
            resume = True
            continue
        logged = read_steps(session / "metrics.jsonl")
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        corrupt += check_checkpoints(session)
        try:
            restart = int(resolve_checkpoint(session, "latest").name.split("-")[1])
        except Exception:  # noqa: BLE001 - killed before the first checkpoint
            restart = 0
        if logged:
            lost.append(logged[-1] - restart)
        if resume and (not logged or logged[-1] <= start_step[0]):
            early += 1  # killed while starting up, before its first step
        resume = True
    if read_status(session).get("state") != "finished":
        proc = train("chaos", True)
        _out, err = proc.communicate()
        if proc.returncode != 0:
            failed_resumes += 1
    corrupt += check_checkpoints(session)
    dupes = {name: sum(c - 1 for c in Counter(read_steps(session / name)).values() if c > 1)
             for name in ("metrics.jsonl", "eval.jsonl", "batches.jsonl")}
    a = load_file(str(resolve_checkpoint(session, "latest") / "model.safetensors"))
    b = load_file(str(resolve_checkpoint(work / "sessions" / "straight", "latest") /
                      "model.safetensors"))
    diff = max(float((a[k] - b[k]).abs().max()) for k in b)
    from workbench.fsutil import read_jsonl

    ref = {m["step"]: m["loss"] for m in read_jsonl(work / "sessions" / "straight" / "metrics.jsonl")}
    first_diff = next((m["step"] for m in read_jsonl(session / "metrics.jsonl")
                       if ref.get(m["step"]) != m["loss"]), None)
    result = {
        "date": dt.date.today().isoformat(), "machine": _cpu_model(),
        "cpus": os.cpu_count(), "torch": torch.__version__,
        "command": "python bench/chaos.py " + " ".join(sys.argv[1:]),
        "kills": kills, "steps": args.steps, "save_every": args.save_every,
        "corrupt_checkpoints": corrupt, "failed_resumes": failed_resumes,
        "kills_before_a_first_step": early,
        "steps_lost": {"mean": round(sum(lost) / len(lost), 2) if lost else 0,
                       "max": max(lost) if lost else 0, "each": lost},
        "duplicate_lines": dupes, "final_state": read_status(session).get("state"),
        "max_weight_difference": diff, "first_step_with_another_loss": first_diff,
        "straight_run_s": round(straight_s, 1),
    }
    out = ROOT / "bench" / "results" / f"chaos-{result['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"kills {kills} ({early} during start-up) · corrupt checkpoints {corrupt} · failed "
          f"resumes {failed_resumes} · "
          f"steps lost per kill mean {result['steps_lost']['mean']} max "
          f"{result['steps_lost']['max']} (save_every {args.save_every}) · duplicate lines "
          f"{sum(dupes.values())} · final {result['final_state']} · max weight difference "
          f"vs a straight run {diff:g} (first step with another loss: {first_diff})")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
