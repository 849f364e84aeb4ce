"""Errors the workbench reports to its user as one line, never as a traceback.

Every problem a user can cause (a bad file, a bad row, an unknown name) is raised as a
`WorkbenchError` whose message names the file, the row and what is wrong. The CLI prints
the message and exits with `exit_code`; the TUI shows it in an error panel.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem to show the user as one line, with the exit code the CLI should use."""

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class RowError(WorkbenchError):
    """One row of a dataset is unusable; the loader counts it and may skip it."""

    def __init__(self, problem: str, *, file: str | None = None, row: int | None = None,
                 kind: str = "bad row") -> None:
        self.problem = problem
        self.file = file
        self.row = row
        self.kind = kind
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        return (": ".join([", ".join(where), self.problem]) if where else self.problem)


def one_line(text: str, limit: int = 300) -> str:
    """Collapse a message to one line so it never spills a traceback-like block."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
