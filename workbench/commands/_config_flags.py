"""Every `TrainConfig` field as a command-line flag, for `workbench train` and `workbench
batch` alike: `--lr 1e-4`, `--batcher packed`, `--sample-prompts TEXT` (repeatable). The
fields that take one of a few values get argparse `choices` from `TrainConfig`'s published
`CHOICES`, so a new choice needs no change here."""

from __future__ import annotations

import argparse
from dataclasses import fields


def add_config_flags(group, aliases: dict[str, list[str]] | None = None) -> None:
    """Add `--FIELD` for every config field to `group` (dest `cfg_FIELD`, default: not
    given, so a TOML file's value stays unless the flag overrides it)."""
    from ..train.config import CHOICES, TrainConfig, field_help

    helps = field_help()
    aliases = aliases or {}
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "str")
        kw: dict = {"dest": f"cfg_{f.name}", "default": argparse.SUPPRESS,
                    "help": helps.get(f.name, "").replace("%", "%%"), "metavar": f.name.upper()}
        if kind == "int":
            kw["type"] = int
        elif kind == "float":
            kw["type"] = float
        elif kind.startswith("list"):
            kw["action"] = "append"
            kw["metavar"] = "TEXT"
        if f.name in CHOICES and f.name != "device":  # device also takes cuda:N
            kw["choices"] = CHOICES[f.name]
            kw["metavar"] = "|".join(CHOICES[f.name])
        group.add_argument(*aliases.get(f.name, []), flag, **kw)


def given_flags(args: argparse.Namespace) -> dict:
    """The config fields given as flags: {field: value}."""
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
