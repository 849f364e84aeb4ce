"""Text the Train and Sessions screens show about a session: its samples, its config (TOML,
coloured), its checkpoints and its one-line description."""

from __future__ import annotations

from pathlib import Path

from textual.content import Content

STOP_WORDS = {"end": "stopped at the end token", "stop_string": "stopped at a stop string",
              "length": "hit max new tokens (no end token)", "cancelled": "cancelled"}


def samples_content(rows: list[dict], with_step: bool = False) -> Content:
    """Greedy samples: the prompt, the answer, its stop reason and length."""
    parts = []
    last_step = None
    for row in rows:
        if with_step and row.get("step") != last_step:
            last_step = row.get("step")
            parts.append(Content.from_markup("[b $accent]step $s[/]", s=str(last_step)))
        prompt = str(row.get("prompt", ""))
        if "error" in row:
            parts.append(Content.from_markup("[b]› $p[/]\n[$error]$e[/]", p=prompt,
                                             e=str(row["error"])))
            continue
        text = str(row.get("text", ""))
        shown = text if text.strip() else "(blank)"
        reason = str(row.get("stop_reason"))
        parts.append(Content.from_markup(
            "[b]› $p[/]\n$t\n[dim]$why · $n tokens[/]", p=prompt, t=shown,
            why=STOP_WORDS.get(reason, reason), n=str(row.get("new_tokens", "?"))))
    return Content("\n").join(parts) if parts else Content("")


def config_content(toml_text: str) -> Content:
    """config.toml with its section headers and keys picked out."""
    parts = []
    for line in toml_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            parts.append(Content.from_markup("[dim]$l[/]", l=line))
        elif stripped.startswith("[") and stripped.endswith("]"):
            parts.append(Content.from_markup("[b $accent]$l[/]", l=line))
        elif "=" in line:
            key, value = line.split("=", 1)
            parts.append(Content.from_markup("[b]$k[/]=$v", k=key, v=value))
        else:
            parts.append(Content(line))
    return Content("\n").join(parts)


def short_source(value: str, limit: int = 32) -> str:
    """A data source or model as a table cell: a file's name, a Hub id as is."""
    if not value:
        return "—"
    if "/" in value and (value.startswith((".", "/", "~")) or Path(value).suffix):
        value = Path(value).name
    return value if len(value) <= limit else "…" + value[-(limit - 1):]
