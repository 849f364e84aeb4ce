"""Time to the first frame of `workbench` (target: under 0.5 s), in a real pseudo-terminal.

    python bench/bench_startup.py [--runs 10]

Each run starts `python -m workbench` (no sub-command: the TUI) on a pty of 120x36, and
measures the time from the spawn until the screen's header (the context bar) has been
written to the terminal. The app opens on the Data screen with a source to load (the
loading itself happens after the first frame, in a worker). torch is never imported for
the first frame; the script also reports which heavy modules the app imported by then.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "ui" / "batches" / "alpaca.jsonl"


def one_run(env: dict) -> float:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "workbench", "--data", str(FIXTURE)], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    start = time.perf_counter()
    seen = b""
    elapsed = float("nan")
    try:
        while time.perf_counter() - start < 20:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if fd in ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
                if b"data:" in seen and b"template:" in seen:
                    elapsed = time.perf_counter() - start
                    break
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if not ready or not os.read(fd, 65536):
                    break
        except OSError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


def imported_modules() -> list[str]:
    code = ("import sys, time\nfrom screens.app import make_app\napp = make_app(persist=False)\n"
            "import json; print(json.dumps(sorted(m for m in ('torch', 'numpy', 'pyarrow', "
            "'datasets', 'transformers', 'tiktoken') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else [out.stderr]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.json"
        state.write_text("{}")
        env = dict(os.environ, WORKBENCH_STATE=str(state), WORKBENCH_CACHE=str(Path(tmp) / "c"),
                   TERM="xterm-256color")
        one_run(env)  # warm the OS file cache once
        times = [one_run(env) for _ in range(args.runs)]
    ok = [t for t in times if t == t]
    print(f"first frame of `workbench` on a 120x36 pty, {len(ok)} runs: median "
          f"{statistics.median(ok) * 1000:.0f} ms, min {min(ok) * 1000:.0f} ms, "
          f"max {max(ok) * 1000:.0f} ms")
    print(f"heavy modules imported by building the app: {imported_modules() or 'none'}")


if __name__ == "__main__":
    main()
