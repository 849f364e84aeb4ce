"""Seed 000 probes: ending adherence of one model on requests about the training plots and on
requests about the held-out plots and names (README, seed 000, the table of what was tried).

    .venv/bin/python bench/seed000_probe.py SESSION [--sessions DIR] [--summaries 30]

Each summary is asked once for a happy and once for a sad ending (greedy, up to 220 new
tokens, the story template); the ending is judged by workbench.diagnose. The training-plot
summaries are fresh draws (their own random stream), with the training names. Prints the
confusion of each set: {asked: {written: count}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.demo.pipelines import Context, _diagnosed, _load  # noqa: E402
from workbench.demo.tinystories import split_plots_and_names, story_requests  # noqa: E402
from workbench.templates import get_template  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("session")
    ap.add_argument("--sessions", default="sessions")
    ap.add_argument("--summaries", type=int, default=30)
    args = ap.parse_args()
    train_plots, train_names, held_plots, held_names = split_plots_and_names()
    loaded = _load(args.session, Context(sessions_dir=Path(args.sessions)))
    for label, plots, names in (("training plots", train_plots, train_names),
                                ("held-out", held_plots, held_names)):
        t = time.time()
        s = _diagnosed(loaded, get_template("story"), story_requests(args.summaries, plots, names, "probe/7"), 220)
        print(f"{args.session} {label}: {json.dumps(s['ending']['confusion'])} "
              f"({time.time() - t:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
