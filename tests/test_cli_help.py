"""Every command and sub-action prints its help (exit 0, no traceback): a `%` in a help
string once crashed `workbench train --help`."""

from __future__ import annotations

import pytest

from conftest import run_cli
from workbench.cli import COMMANDS

CASES = [[c] for c in COMMANDS] + [["data", a] for a in ("show", "stats", "balance", "split")] + \
    [["demo", a] for a in ("data", "build", "run")] + [[]]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "workbench")
def test_help(args):
    res = run_cli(*args, "--help")
    assert res.returncode == 0, res.stderr
    assert "usage: workbench" in res.stdout and "Traceback" not in res.stderr + res.stdout


def test_unknown_command_is_one_line():
    res = run_cli("frobnicate")
    assert res.returncode == 2 and "invalid choice" in res.stderr and "Traceback" not in res.stderr
