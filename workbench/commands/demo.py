"""The demo kit. `workbench demo data` writes the demo datasets (seconds); `workbench demo
build` also pretrains the demo base model (sessions/demo-base) with `workbench train` in
text mode; `workbench demo run SEED|all` reruns a seed pipeline headless (000 balancing and
ending adherence, 001 six task kinds, 002 ChatML-lite ablations and sweeps, 003 chapter 7)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    data = sub.add_parser("data", help="write the demo datasets into --data-dir")
    data.add_argument("--data-dir", default="data/demo", metavar="DIR")
    data.add_argument("--force", action="store_true", help="rewrite files that exist")

    build = sub.add_parser("build", help="demo datasets + pretrain the demo base model")
    build.add_argument("--data-dir", default="data/demo", metavar="DIR")
    build.add_argument("--sessions", default="sessions", metavar="DIR")
    build.add_argument("--tokenizer", default="gpt2", metavar="TOK",
                       help="GPT-2 tokenizer: gpt2 (its files cached, or the shipped demo "
                            "model's), or a folder with vocab.json + merges.txt")
    build.add_argument("--steps", type=int, default=1500, help="pretraining steps")
    build.add_argument("--force", action="store_true", help="replace an existing demo-base")
    build.add_argument("--device", default="auto")

    run = sub.add_parser("run", help="rerun a seed pipeline headless and print its numbers")
    run.add_argument("seed", metavar="SEED", help="000, 001, 002, 003 (= 004), or all")
    run.add_argument("--base", default="demo-base", metavar="M", help="the base model")
    run.add_argument("--data-dir", default="data/demo", metavar="DIR")
    run.add_argument("--sessions", default="sessions", metavar="DIR")
    run.add_argument("--out", default="demo-runs", metavar="DIR", help="where reports go")
    run.add_argument("--rasbt", metavar="PATH", help="instruction-data.json for seed 003")
    run.add_argument("--quick", action="store_true", help="a few steps of each (a smoke test)")
    run.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from ..demo.build import build_base, write_demo_data

    if args.demo_command == "data":
        paths = write_demo_data(args.data_dir, force=args.force)
        for f in sorted(p for p in Path(paths.root).rglob("*") if p.is_file()):
            print(f"{f}  ({f.stat().st_size / 1e6:.2f} MB)")
        return 0
    if args.demo_command == "build":
        import time

        t = time.time()
        session = build_base(sessions_dir=args.sessions, data_dir=args.data_dir,
                             tokenizer=args.tokenizer, max_steps=args.steps, force=args.force,
                             device=args.device)
        size = sum(f.stat().st_size for f in session.rglob("*") if f.is_file())
        print(f"built {session} in {time.time() - t:.0f} s ({size / 1e6:.1f} MB)")
        return 0
    from ..demo.pipelines import SEEDS, Context, run as run_seed

    ctx = Context(base=args.base, sessions_dir=Path(args.sessions), data_dir=Path(args.data_dir),
                  out=Path(args.out), quick=args.quick,
                  rasbt=Path(args.rasbt) if args.rasbt else None,
                  log=(lambda _m: None) if args.json else print)
    seeds = SEEDS if args.seed == "all" else (args.seed,)
    reports = {s: run_seed(s, ctx) for s in seeds}
    if args.json:
        print(json.dumps(reports, indent=2, default=str))
    return 0
