"""Engine messages in the app's terms.

The engine's messages are written for the command line ("pass --format ..."). In the app
the same advice is a field or a key: `app_terms` rewrites the CLI phrases of a message
before a screen shows it (error panel, notifications, previews). One table, so a new
engine message with a flag gets its app wording here.
"""

from __future__ import annotations

import re

# (CLI phrase as a regular expression, what to say in the app); first match wins per phrase
PHRASES: tuple[tuple[str, str], ...] = (
    (r"pass --format to say what the rows are",
     "choose the rows' format in the Open dialog (o, field 'format')"),
    (r"pass --format(?: \([^)]*\))?", "choose the format in the Open dialog (o, field 'format')"),
    (r"pass --skip-bad to load the other rows",
     "fix or remove that row (the Data screen counts the bad rows)"),
    (r"see `workbench train --help-config`", "F1 lists the Train form's fields"),
    (r"use --device auto or --device cpu", "set the Train form's device to auto or cpu"),
    (r"--ratio", "ratio"),
    (r"--strategy\b", "strategy"),
    (r"--val-ratio\b", "val_ratio"),
)
_COMPILED = tuple((re.compile(p), r) for p, r in PHRASES)


def app_terms(message: str) -> str:
    """`message` with its command-line phrases said the app's way."""
    for pattern, replacement in _COMPILED:
        message = pattern.sub(replacement, message)
    return message
