"""Fine-tune a model. `workbench train CONFIG.toml [--session NAME]`, or the same with flags
(every config field is a flag: --model, --data, --template, --lr, ...; flags override the
file). Runs in the foreground with a progress bar; --detach starts it in its own process
session and returns (the TUI does this); --resume NAME continues a stopped or killed run
from its last checkpoint; --stop NAME asks a running one to stop. --nproc N trains on N
processes (GPUs) with DDP under torchrun. `--help-config` lists every field with its help."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

from ._config_flags import add_config_flags, given_flags


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", metavar="CONFIG.toml", help="training config (TOML)")
    p.add_argument("--session", metavar="NAME", help="session name (default: generated)")
    p.add_argument("--sessions", metavar="DIR", default=argparse.SUPPRESS,
                   help="sessions folder (default: ./sessions)")
    p.add_argument("--resume", metavar="NAME", help="continue session NAME from its last checkpoint")
    p.add_argument("--from", dest="from_", metavar="CHECKPOINT",
                   help="with --resume: the checkpoint to continue from (step-N or best; "
                        "default: the latest)")
    p.add_argument("--detach", action="store_true",
                   help="start in the background (own process session) and return")
    p.add_argument("--stop", metavar="NAME", help="ask running session NAME to stop (checkpoint first)")
    p.add_argument("--quiet", action="store_true", help="no progress output (log file only)")
    p.add_argument("--help-config", action="store_true", help="list every config field and exit")
    group = p.add_argument_group("config fields (override the file)")
    add_config_flags(group)


def _config(args):
    from ..errors import WorkbenchError
    from ..train.config import TrainConfig

    given = given_flags(args)
    if args.config:
        base = TrainConfig.from_toml(args.config).to_dict()
    elif not given:
        raise WorkbenchError("give a CONFIG.toml or flags (at least --data; see --help)")
    else:
        base = {}
    base.update(given)
    return TrainConfig.from_dict(base, args.config or "flags")


def run(args: argparse.Namespace) -> int:
    from ..errors import WorkbenchError
    from ..sessions import CONFIG, default_sessions_dir
    from ..train import runner
    from ..train.config import TrainConfig, field_help

    sessions = Path(getattr(args, "sessions", None) or default_sessions_dir())
    if args.help_config:
        for f in fields(TrainConfig):
            print(f"{f.name:22} = {f.default!r:14}  {field_help().get(f.name, '')}"
                  if not callable(f.default_factory) else f"{f.name:22} = []              "
                  f"{field_help().get(f.name, '')}")
        return 0
    if args.from_ and not args.resume:
        raise WorkbenchError("--from goes with --resume NAME")
    if args.stop:
        if runner.stop(args.stop, sessions):
            print(f"asked session {args.stop} to stop (it saves a checkpoint first)")
            return 0
        raise WorkbenchError(f"session {args.stop!r} is not running")
    if args.resume:
        if args.config or any(k.startswith("cfg_") for k in vars(args)):
            raise WorkbenchError("--resume continues with the session's own config; "
                                 "do not give a config or config flags")
        session = sessions / runner.check_name(args.resume)
        if not (session / CONFIG).exists():
            raise WorkbenchError(f"no session {args.resume!r} in {sessions}")
        if args.from_:
            from ..sessions import resolve_checkpoint

            resolve_checkpoint(session, args.from_)  # a name that is not there: said now
        if args.detach:
            if args.from_:
                raise WorkbenchError("--from runs in the foreground; drop --detach")
            runner.resume(args.resume, sessions)
            print(f"resumed session {args.resume} in the background (log: {session / 'train.log'})")
            return 0
        config = TrainConfig.from_toml(session / CONFIG)
        return _foreground(config, session, resume=True, quiet=args.quiet, sessions=sessions,
                           resume_from=args.from_)
    config = _config(args)
    config.validate()
    _check_memory(config, sessions, quiet=args.quiet)
    if args.detach:
        _say_auto(config, sessions, quiet=args.quiet)  # the run logs them in its train.log
        session = runner.start(config, args.session, sessions)
        print(f"started session {session.name} in the background (pid file: {session / 'status.json'};"
              f" log: {session / 'train.log'})")
        return 0
    name = runner.check_name(args.session) if args.session else runner.new_session_name(config, sessions)
    session = sessions / name
    if session.exists() and (session / "checkpoints").exists() and not _same_config(session, config):
        raise WorkbenchError(f"session {name!r} already exists in {sessions}; choose another "
                             f"name or --resume {name}")
    return _foreground(config, session, resume=False, quiet=args.quiet, sessions=sessions,
                       discard=not session.exists())


def _say_auto(config, sessions: Path, quiet: bool) -> None:
    """One line per auto setting (max_len 0, lr 0): the number the run will use and why.
    A model that cannot be read is left for the run to report."""
    if quiet or (config.max_len and config.lr):
        return
    from ..errors import WorkbenchError
    from ..recipe import resolve_auto

    try:
        _resolved, lines = resolve_auto(config, sessions_dir=sessions)
    except WorkbenchError:
        return
    for line in lines:
        print(line, file=sys.stderr)


def _check_memory(config, sessions: Path, quiet: bool) -> None:
    """Before a run: parameters, trained parameters and the memory plan against what the
    device has; a run that will not fit is refused with what to change."""
    from ..model.sizes import check_fits

    plan = check_fits(config, sessions)
    if plan is not None and not quiet:
        note = "warning: close to the limit; " if plan.verdict() == "warn" else ""
        print(f"{note}{plan.describe()}", file=sys.stderr)


def _same_config(session: Path, config) -> bool:
    from ..train.config import TrainConfig

    try:
        return TrainConfig.from_toml(session / "config.toml") == config and \
            not (session / "checkpoints").exists()
    except Exception:  # noqa: BLE001
        return False


def _foreground(config, session: Path, *, resume: bool, quiet: bool, sessions: Path,
                resume_from: str | None = None, discard: bool = False) -> int:
    from ..train import loop, runner

    if config.nproc > 1 and "WORLD_SIZE" not in os.environ:
        # relaunch this command under torchrun, in the foreground
        import subprocess

        from ..fsutil import write_text_atomic
        from ..sessions import CONFIG
        from ..train.lock import acquire

        with acquire(session):  # held here for every rank torchrun starts
            if not resume:
                write_text_atomic(session / CONFIG, config.to_toml())
            cmd = runner.command_for(session, resume=resume, nproc=config.nproc)
            if not quiet:
                cmd = [c for c in cmd if c != "--quiet"]
            return subprocess.call(cmd)
    stop = threading.Event()
    interrupts = {"n": 0}

    def on_signal(signum, _frame):
        interrupts["n"] += 1
        if signum == signal.SIGINT and interrupts["n"] > 1:
            raise KeyboardInterrupt
        if not stop.is_set() and not quiet:
            print("\nstopping after this step (a checkpoint is written first); "
                  "Ctrl-C again to abort", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    bar = Progress(enabled=not quiet and sys.stderr.isatty())
    state = loop.run(config, session, resume=resume, stop=stop, echo=not quiet and not bar.enabled,
                     on_step=bar.update, sessions_dir=sessions, resume_from=resume_from,
                     discard_on_preflight=discard, announce=not quiet)
    bar.close()
    from ..sessions import read_status

    status = read_status(session)
    if not quiet:
        line = f"session {session.name}: {state} at step {status.get('step')}/{status.get('max_steps')}"
        if status.get("best_val_loss") is not None:
            line += f"; best val loss {status['best_val_loss']:.4f} (step {status.get('best_step')})"
        if status.get("error"):
            line += f"\n  {status['error']}"
        print(line, file=sys.stderr if state == "failed" else sys.stdout)
    return 1 if state == "failed" else 0


class Progress:
    """A one-line progress bar on stderr for foreground runs."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.start = time.time()
        self.first_step: int | None = None

    def update(self, m: dict) -> None:
        if not self.enabled:
            return
        step, total = m["step"], m.get("max_steps") or m["step"]
        if self.first_step is None:
            self.first_step, self.start = step - 1, time.time()
        frac = min(1.0, step / total) if total else 0.0
        width = 24
        bar = "█" * int(frac * width) + "·" * (width - int(frac * width))
        done = step - self.first_step
        eta = (time.time() - self.start) / done * (total - step) if done > 0 else 0
        sys.stderr.write(f"\rstep {step}/{total} [{bar}] loss {m['loss']:.4f} lr {m['lr']:.2e} "
                         f"{m.get('tokens_per_s', 0):,.0f} tok/s ETA {int(eta) // 60}:{int(eta) % 60:02d}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
