"""`workbench`: with no sub-command it opens the terminal UI; sub-commands run headless.

Every user-caused problem ends as one line on stderr and exit code 2 (a `WorkbenchError`);
an unexpected failure ends as one line and exit code 1 (set WORKBENCH_DEBUG=1 for the
traceback). Nothing heavy is imported here: each sub-command imports what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__

# sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("workbench.commands.data", "show, count, balance, split and save instruction data"),
    "batch": ("workbench.commands.batch", "show a collated batch token by token (the mask inspector)"),
    "generate": ("workbench.commands.generate", "generate from a model with a template"),
    "train": ("workbench.commands.train", "fine-tune a model (foreground, detached, or resumed)"),
    "diagnose": ("workbench.commands.diagnose", "flag leakage, looping, no-stop, echo in generations"),
    "compare": ("workbench.commands.compare", "generate with base and SFT models and compare"),
    "merge": ("workbench.commands.merge", "merge a LoRA session into a full model"),
    "demo": ("workbench.commands.demo", "build the demo kit and rerun the seed pipelines"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="SFT Workbench: browse and balance instruction data, inspect batches, "
                    "fine-tune GPT-2-family models, compare base vs SFT. With no sub-command "
                    "it opens the terminal UI.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--data", metavar="SOURCE", help="preload this data source in the UI")
    parser.add_argument("--format", metavar="F", help="the data source's format (auto-detected)")
    parser.add_argument("--template", metavar="T", help="preload this template in the UI")
    parser.add_argument("--model", metavar="M", help="preload this model (hub id, folder, session)")
    parser.add_argument("--sessions", metavar="DIR", help="sessions folder (default: ./sessions)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip())
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import WorkbenchError, one_line

    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            return _open_app(args)
        return int(args._module.run(args) or 0)
    except WorkbenchError as err:
        print(f"workbench: error: {one_line(err.message, 2000)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `workbench batch ... | head`: the reader went away; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit flush
        except OSError:
            pass
        return 0
    except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: internal error: {type(err).__name__}: {one_line(str(err))} "
              "(set WORKBENCH_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1


def _open_app(args: argparse.Namespace) -> int:
    # The UI lives in `screens`; imported here, lazily, so the engine never depends on it.
    from screens.app import run_app

    return run_app(data=args.data, data_format=args.format, template=args.template,
                   model=args.model, sessions_dir=args.sessions)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
