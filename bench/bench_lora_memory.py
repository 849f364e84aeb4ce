"""Full fine-tune vs LoRA, and the memory plan against the measured peak.

Each case trains a new model of a preset shape for a few steps in a process of its own
(packed rows of max_len tokens, so every step has the same tokens), and reports:
  tokens/s (median over the steps after the first), the peak resident memory of the process
  (ru_maxrss), and the memory plan's estimate (workbench/model/sizes.py) beside it.

    python bench/bench_lora_memory.py                  # gpt2-small full; gpt2-medium full and LoRA r=8
    python bench/bench_lora_memory.py --steps 4 --cases medium-lora
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKENIZER = ROOT / "sessions" / "demo-base" / "checkpoints" / "step-100"  # GPT-2's BPE files
RASBT = ROOT.parent / "shared" / "data" / "rasbt-instruction-data" / "instruction-data.json"

CASES = {
    "small-full": dict(model="scratch:gpt2"),
    "medium-full": dict(model="scratch:gpt2-medium"),
    "medium-lora": dict(model="scratch:gpt2-medium", lora_r=8, lora_alpha=16.0),
}

CHILD = """
import json, resource, sys
from pathlib import Path
from workbench.train import loop
from workbench.train.config import TrainConfig
config = TrainConfig(**json.loads(sys.argv[1]))
state = loop.run(config, Path(sys.argv[2]))
rows = [json.loads(l) for l in (Path(sys.argv[2]) / "metrics.jsonl").read_text().splitlines()]
print(json.dumps({"state": state, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "tokens_per_s": [r["tokens_per_s"] for r in rows]}))
"""


def cpu_model() -> str:
    for line in open("/proc/cpuinfo", encoding="utf-8"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-len", type=int, default=256)
    p.add_argument("--cases", default=",".join(CASES))
    args = p.parse_args()

    from workbench.model.sizes import plan_for
    from workbench.train.config import TrainConfig

    data = RASBT if RASBT.exists() else None
    if data is None:
        sys.exit(f"{RASBT} is needed (the shared data beside the repository)")
    results = []
    work = Path(tempfile.mkdtemp(prefix="wb-lora-mem-"))
    for name in args.cases.split(","):
        fields = dict(CASES[name], data=str(data), tokenizer=str(TOKENIZER), template="alpaca",
                      batcher="packed", batch_size=args.batch_size, max_len=args.max_len,
                      max_steps=args.steps, lr=1e-4, eval_every=0, save_every=0,
                      sample_every=0, val_ratio=0.0, device="cpu", threads=2,
                      keep_last=1)
        config = TrainConfig(**fields)
        plan = plan_for(config, device="cpu")
        # no checkpoint is timed or measured: the run saves once at its end (max_steps)
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(fields), str(work / name)],
                             capture_output=True, text=True, cwd=ROOT,
                             env=dict(os.environ, WORKBENCH_CACHE=str(work / "cache")))
        if out.returncode != 0:
            sys.exit(f"{name}: {out.stderr[-2000:]}")
        got = json.loads(out.stdout.strip().splitlines()[-1])
        rates = got["tokens_per_s"][1:] or got["tokens_per_s"]
        row = {"case": name, "params_M": round(plan.params / 1e6, 1),
               "trained_M": round(plan.trainable / 1e6, 2),
               "tokens_per_s_median": round(statistics.median(rates), 1),
               "tokens_per_s_range": [min(rates), max(rates)],
               "peak_MB": round(got["peak_kb"] / 1024), "plan_MB": round(plan.total / 2**20),
               "plan_parts_MB": {k: round(v / 2**20) for k, v in plan.parts()}}
        row["plan_over_peak"] = round(row["plan_MB"] / row["peak_MB"], 2)
        results.append(row)
        print(f"{name:12} {row['params_M']:>7}M params, {row['trained_M']:>7}M trained · "
              f"{row['tokens_per_s_median']:>7} tok/s ({min(rates)}–{max(rates)}) · peak "
              f"{row['peak_MB']:>6} MB · plan {row['plan_MB']:>6} MB ({row['plan_over_peak']}×)",
              flush=True)
    meta = {"date": dt.date.today().isoformat(), "cpu": cpu_model(), "cpus": os.cpu_count(),
            "command": "python bench/bench_lora_memory.py " + " ".join(sys.argv[1:]),
            "batch": f"{args.batch_size} x {args.max_len} tokens (packed)", "steps": args.steps,
            "results": results}
    out = ROOT / "bench" / "results" / f"lora-memory-{meta['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
