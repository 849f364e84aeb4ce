"""The GPU benchmark of issue 17, side by side on one device (run by bench/gpu.sh).

Training, gpt2-124M shape (12 layers, d 768, 12 heads, random init, seed 0), GPT-2's
tokenizer (../shared/gpt2-bpe), max_len 1024, bf16 autocast, loss on responses only, on
rasbt-instruction-data + code-alpaca-2k (alpaca template):

* the workbench: packed and grouped, compiled and not (`compile = on|off`);
* Hugging Face TRL's SFTTrainer in its best mode here (bench/gpu_trl.py), when `trl` is
  importable (it is never a dependency of the project).

Each contender runs in its own process (its own peak memory, no compile caches shared) and
reports real (non-pad) tokens/s and supervised tokens/s over the steps after the warm-up
(compiling included in the warm-up), its peak memory, and MFU by nanoGPT's formula against
the device's bf16 peak (workbench.train.telemetry).

Generation: new tokens/s at batch 1 and 8, the workbench with its KV cache (a CUDA-graph
decode step on CUDA) and without, and transformers' `generate` (bf16 weights, its dynamic
cache) on the same weights, greedy, no stopping.

--dry-run: the same, end to end on the CPU with a tiny model, a few steps and fp32, so the
script is known to work before device time is spent on it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    for cand in (ROOT.parent / "shared", ROOT / "shared"):
        if (cand / "data").is_dir():
            return cand
    return ROOT.parent / "shared"


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true",
                    help="CPU, tiny model, few steps: check the script end to end")
    ap.add_argument("--steps", type=int, default=None, help="training steps per contender")
    ap.add_argument("--warmup", type=int, default=None, help="steps left out of the rates")
    ap.add_argument("--batch-size", type=int, default=None, help="rows per micro-batch")
    ap.add_argument("--new-tokens", type=int, default=None, help="generated tokens per row")
    ap.add_argument("--shared", type=Path, default=None, help="the shared folder (data, BPE)")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for gpu-<date>.txt/.json (default bench/results; a temporary "
                         "folder with --dry-run)")
    ap.add_argument("--only", default="", help="comma-separated: workbench,trl,generate")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a child's JSON spec
    args = ap.parse_args(argv)
    if args.steps is not None and args.steps < 2:
        ap.error("--steps must be at least 2")
    if args.warmup is not None and args.warmup < 0:
        ap.error("--warmup must not be negative")
    dry = args.dry_run
    args.steps = args.steps or (6 if dry else 60)
    args.warmup = args.warmup if args.warmup is not None else (2 if dry else 10)
    if args.warmup >= args.steps:
        ap.error(f"--warmup {args.warmup} leaves no step of {args.steps} to measure")
    args.batch_size = args.batch_size or (4 if dry else 8)
    args.new_tokens = args.new_tokens or (8 if dry else 128)
    args.shared = args.shared or shared_dir()
    return args


def shape(dry: bool) -> dict:
    """The model and the run: gpt2-124M at 1024 on the device, a tiny one for --dry-run."""
    if dry:
        return dict(n_layer=2, n_head=2, n_embd=64, max_len=128, device="cpu", dtype="fp32")
    return dict(n_layer=12, n_head=12, n_embd=768, max_len=1024, device="cuda", dtype="bf16")


def combined_data(shared: Path, folder: Path, limit: int | None) -> Path:
    """rasbt-instruction-data + code-alpaca-2k as one alpaca JSON file."""
    rows = []
    for part in ("rasbt-instruction-data/instruction-data.json",
                 "code-alpaca-2k/code_alpaca_2k.json"):
        path = shared / "data" / part
        if not path.exists():
            raise SystemExit(f"missing data: {path} (pass --shared DIR)")
        got = json.loads(path.read_text(encoding="utf-8"))
        rows += got[:limit] if limit else got
    out = folder / "sft-data.json"
    out.write_text(json.dumps([{k: r.get(k, "") for k in ("instruction", "input", "output")}
                               for r in rows]), encoding="utf-8")
    return out


# -- one contender, in a child process ----------------------------------------------------

def run_workbench(spec: dict) -> dict:
    import torch

    from workbench.train import loop
    from workbench.train.config import TrainConfig
    from workbench.train.telemetry import device_peak, flops_per_token

    s = spec["shape"]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_CACHE"] = os.path.join(tmp, "cache")
        cfg = TrainConfig(model="scratch", tokenizer=spec["tokenizer"], n_layer=s["n_layer"],
                          n_head=s["n_head"], n_embd=s["n_embd"], n_positions=s["max_len"],
                          data=spec["data"], template="alpaca", loss_on="response",
                          max_len=s["max_len"], batcher=spec["batcher"],
                          batch_size=spec["batch_size"], max_steps=spec["steps"], lr=3e-4,
                          warmup_steps=0, eval_every=0, save_every=0, sample_prompts=[],
                          val_ratio=0.0, seed=0, device=s["device"], dtype=s["dtype"],
                          compile=spec["compile"], log_every=1, keep_last=1)
        session = Path(tmp) / "run"
        if s["device"] == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        state = loop.run(cfg, session)
        wall = time.perf_counter() - t
        if state != "finished":
            status = json.loads((session / "status.json").read_text())
            raise SystemExit(f"workbench run {state}: {status.get('error')}")
        metrics = [json.loads(x) for x in (session / "metrics.jsonl").read_text().splitlines()]
        status = json.loads((session / "status.json").read_text())
        log = (session / "train.log").read_text()
    out = rates(metrics, spec["warmup"])
    n_params = status["n_params"] - s["max_len"] * s["n_embd"]  # nanoGPT's N: less wpe
    fpt = flops_per_token(n_params, s["n_layer"], s["n_head"], s["n_embd"] // s["n_head"],
                          s["max_len"])
    peak, source = device_peak(s["device"], s["dtype"])
    first = [line for line in log.splitlines() if "compiling included" in line]
    out.update(contender=f"workbench {spec['batcher']} compile={spec['compile']}",
               peak_memory_mb=status.get("peak_memory_mb"), final_loss=metrics[-1]["loss"],
               mfu=round(fpt * out["real_tokens_per_s"] / peak, 4), peak_tflops=peak / 1e12,
               peak_source=source, wall_s=round(wall, 1),
               first_step=first[0].split(" ", 2)[2] if first else None)
    return out


def rates(metrics: list[dict], warmup: int) -> dict:
    """Tokens/s over the steps after `warmup` (from the steps' elapsed times)."""
    after = [m for m in metrics if m["step"] > warmup]
    start = next((m["elapsed_s"] for m in metrics if m["step"] == warmup), 0.0)
    seconds = after[-1]["elapsed_s"] - start
    real = sum(m["tokens"] for m in after)
    sup = sum(m["target_tokens"] for m in after)
    return {"steps_measured": len(after), "real_tokens_per_s": round(real / seconds, 1),
            "supervised_tokens_per_s": round(sup / seconds, 1)}


def run_generate(spec: dict) -> dict:
    """Workbench generate (cache / no cache) and transformers generate, same weights."""
    import torch

    from workbench.generate import GenerationConfig, generate
    from workbench.model import GPT, GPTConfig

    s = spec["shape"]
    device = s["device"]
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=s["n_layer"], n_head=s["n_head"], n_embd=s["n_embd"],
                          n_positions=s["max_len"], vocab_size=50257)).to(device).eval()

    class Tok:  # generation needs only these of a tokenizer here
        n_vocab, eos_id = 50257, 50256

        def token_bytes(self, i):
            return b"x"

    g = torch.Generator().manual_seed(1)
    prompt_len, new = (16 if spec["dry"] else 64), spec["new_tokens"]
    reps = 1 if spec["dry"] else 3
    results = []

    def timed(fn, reps: int = reps) -> float:
        fn()  # warm-up (graph capture, kernels)
        best = float("inf")
        for _ in range(reps):
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best

    hf = None
    try:
        import transformers

        hf_cfg = transformers.GPT2Config(n_layer=s["n_layer"], n_head=s["n_head"],
                                         n_embd=s["n_embd"], n_positions=s["max_len"],
                                         vocab_size=50257)
        hf = transformers.GPT2LMHeadModel(hf_cfg)
        sd = model.state_dict()
        with torch.no_grad():  # the same weights (Conv1D is the transpose of nn.Linear)
            for name, p in hf.named_parameters():
                src = sd[name]
                conv1d = name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))
                p.copy_(src.t() if conv1d else src)
        hf = hf.to(device, torch.bfloat16 if s["dtype"] == "bf16" else torch.float32).eval()
    except ImportError:
        pass
    for batch in (1, 8):
        prompts = torch.randint(0, 50000, (batch, prompt_len), generator=g).tolist()
        for use_cache in (True, False):
            cfg = GenerationConfig(max_new_tokens=new, use_cache=use_cache)
            sec = timed(lambda: generate(model, Tok(), prompts, cfg, stop_ids=(), device=device),
                        reps=reps if use_cache else 1)
            results.append({"contender": f"workbench {'cache' if use_cache else 'no cache'}",
                            "batch": batch, "tokens_per_s": round(batch * new / sec, 1)})
        if hf is not None:
            ids = torch.tensor(prompts, device=device)

            def hf_gen():
                with torch.inference_mode():
                    hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                                min_new_tokens=new, do_sample=False, pad_token_id=50256)
            sec = timed(hf_gen)
            results.append({"contender": "transformers generate", "batch": batch,
                            "tokens_per_s": round(batch * new / sec, 1)})
    return {"generation": results, "prompt_tokens": prompt_len, "new_tokens": new}


def child(spec_json: str) -> None:
    spec = json.loads(spec_json)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # only the JSON on stdout
    try:
        out = {"workbench": run_workbench, "generate": run_generate}[spec["kind"]](spec)
    finally:
        sys.stdout = real_stdout
    print(json.dumps(out))


def trl_python() -> str | None:
    """The Python that has TRL: $TRL_PYTHON (e.g. .venv-peers/bin/python), else this one;
    None when neither imports trl."""
    python = os.environ.get("TRL_PYTHON") or sys.executable
    ok = subprocess.run([python, "-c", "import trl, datasets, transformers"],
                        capture_output=True).returncode == 0
    return python if ok else None


def spawn(spec: dict, timeout: int, script: Path | None = None,
          python: str | None = None) -> dict:
    """Run one contender in a child process; its JSON, or {"error": ...}."""
    cmd = ([python or sys.executable, str(script)] + spec["argv"] if script else
           [sys.executable, str(Path(__file__)), "--one", json.dumps(spec)])
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    sys.stderr.write(f"  ({time.perf_counter() - t:.0f} s)\n")
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {p.returncode}: {tail}"}
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"no JSON from the child: {p.stdout[-200:]!r}"}


# -- the whole run ------------------------------------------------------------------------

def table(report: dict) -> str:
    lines = [f"GPU benchmark {report['date']} · {report['device']} · torch {report['torch']}"
             + (" · DRY RUN (CPU, tiny model, fp32)" if report["dry_run"] else ""),
             f"command: {report['command']}",
             f"model: {report['model']}; data: {report['data']}", "",
             f"{'training':44} {'real tok/s':>11} {'sup. tok/s':>11} {'peak MB':>9} {'MFU':>7}"]
    for r in report["training"]:
        if "error" in r:
            lines.append(f"{r['contender']:44} {r['error']}")
            continue
        mem = f"{r['peak_memory_mb']:,.0f}" if r.get("peak_memory_mb") else "-"
        lines.append(f"{r['contender']:44} {r['real_tokens_per_s']:>11,.0f} "
                     f"{r['supervised_tokens_per_s']:>11,.0f} {mem:>9} {100 * r['mfu']:>6.1f}%")
        if r.get("first_step"):
            lines.append(f"{'':4}first step: {r['first_step']}")
    gen = report.get("generation") or {}
    if gen.get("error"):
        lines += ["", f"generation: {gen['error']}"]
    elif gen:
        lines += ["", f"generation ({gen['prompt_tokens']}-token prompts, {gen['new_tokens']} "
                      f"new tokens, greedy)  {'batch':>5} {'new tok/s':>10}"]
        for r in gen["generation"]:
            lines.append(f"{r['contender']:44} {r['batch']:>5} {r['tokens_per_s']:>10,.0f}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse(argv)
    if args.one:
        child(args.one)
        return 0
    import torch

    dry = args.dry_run
    s = shape(dry)
    if not dry and not torch.cuda.is_available():
        print("no CUDA device: run on the GPU machine, or use --dry-run here", file=sys.stderr)
        return 2
    only = {x.strip() for x in args.only.split(",") if x.strip()} or {"workbench", "trl", "generate"}
    bpe = args.shared / "gpt2-bpe" / "hf-format"
    work = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    data = combined_data(args.shared, work, 100 if dry else None)
    device = "CPU " + __import__("workbench.train.telemetry", fromlist=["x"]).cpu_name() \
        if dry else torch.cuda.get_device_name(0)
    date = dt.date.today().isoformat()
    report = {"date": date, "device": device, "torch": torch.__version__, "dry_run": dry,
              "command": "bash bench/gpu.sh" + (" --dry-run" if dry else ""),
              "python": platform.python_version(),
              "model": (f"{s['n_layer']} layers, d {s['n_embd']}, {s['n_head']} heads, random "
                        f"init, max_len {s['max_len']}, {s['dtype']}, batch {args.batch_size}, "
                        f"{args.steps} steps ({args.warmup} warm-up)"),
              "data": "rasbt-instruction-data + code-alpaca-2k" + (" (100 rows each)" if dry else ""),
              "training": [], "generation": None}
    limit = 300 if dry else 900  # seconds per contender
    if "workbench" in only:
        for batcher in ("packed", "grouped"):
            for comp in ("on", "off"):
                if dry and batcher == "packed" and comp == "on":
                    report["training"].append({
                        "contender": "workbench packed compile=on", "error": "skipped in the "
                        "dry run: on the CPU packed rows take the gather path, whose data-"
                        "dependent shapes recompile every step (CUDA: flex_attention)"})
                    continue
                print(f"workbench {batcher} compile={comp}", file=sys.stderr, flush=True)
                spec = {"kind": "workbench", "shape": s, "batcher": batcher, "compile": comp,
                        "tokenizer": str(bpe), "data": str(data), "steps": args.steps,
                        "warmup": args.warmup, "batch_size": args.batch_size}
                r = spawn(spec, limit)
                report["training"].append({"contender": f"workbench {batcher} compile={comp}", **r})
    if "trl" in only:
        python = trl_python()
        if python is None:
            report["training"].append({"contender": "TRL SFTTrainer",
                                       "error": "skipped: trl is not importable here (set "
                                                "TRL_PYTHON to a Python that has it)"})
        else:
            print("TRL SFTTrainer", file=sys.stderr, flush=True)
            argv_trl = ["--data", str(data), "--tokenizer", str(bpe), "--steps", str(args.steps),
                        "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
                        "--layers", str(s["n_layer"]), "--heads", str(s["n_head"]),
                        "--d-model", str(s["n_embd"]), "--max-len", str(s["max_len"])]
            if dry:
                argv_trl.append("--cpu")
            r = spawn({"argv": argv_trl}, limit, ROOT / "bench" / "gpu_trl.py", python)
            report["training"].append({"contender": "TRL SFTTrainer", **r})
            if "contender" in r:
                report["training"][-1]["contender"] = r["contender"]
    if "generate" in only:
        print("generation", file=sys.stderr, flush=True)
        report["generation"] = spawn({"kind": "generate", "shape": s, "dry": dry,
                                      "new_tokens": args.new_tokens}, limit)
    out_dir = args.out or (work if dry else ROOT / "bench" / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"gpu-{'dryrun-' if dry else ''}{date}"
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    text = table(report)
    (out_dir / f"{name}.txt").write_text(text)
    print(text)
    print(f"written: {out_dir / (name + '.txt')} and .json", file=sys.stderr)
    failed = [r for r in report["training"] if "error" in r and not r["error"].startswith("skipped")]
    return 1 if failed or (report["generation"] or {}).get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
