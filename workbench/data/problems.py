"""Counting bad input: every skipped row is counted by kind, with its first row numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RowError

KEEP_FIRST = 5


@dataclass
class BadRows:
    """What was wrong in a source: counts per kind, and the first few examples of each.

    Attributes:
        file: the source the rows came from (for messages).
        counts: kind ("malformed JSON", "missing field", ...) -> number of rows.
        first: kind -> the first few (row, problem) pairs.
    """

    file: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, list[tuple[int | None, str]]] = field(default_factory=dict)

    def add(self, kind: str, row: int | None, problem: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        seen = self.first.setdefault(kind, [])
        if len(seen) < KEEP_FIRST:
            seen.append((row, problem))

    def merge(self, other: "BadRows") -> None:
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
            seen = self.first.setdefault(kind, [])
            seen.extend(other.first.get(kind, [])[: KEEP_FIRST - len(seen)])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return self.total > 0

    def first_error(self) -> str:
        """The first problem as a one-line message naming the file and the row."""
        for kind, seen in self.first.items():
            if seen:
                row, problem = seen[0]
                where = f"{self.file}: row {row}" if row is not None else self.file
                return f"{where}: {problem}"
        return ""

    def lines(self) -> list[str]:
        """One line per kind: '3 rows with missing field (rows 4, 9, 17)'."""
        out = []
        for kind, n in sorted(self.counts.items(), key=lambda kv: -kv[1]):
            rows = [str(r) for r, _ in self.first.get(kind, []) if r is not None]
            where = f" (rows {', '.join(rows)}{', …' if n > len(rows) else ''})" if rows else ""
            example = self.first.get(kind, [(None, "")])[0][1]
            out.append(f"{n} {'row' if n == 1 else 'rows'}: {kind}{where}: e.g. {example}")
        return out

    def to_dict(self) -> dict:
        return {"total": self.total, "counts": dict(self.counts),
                "first": {k: [{"row": r, "problem": p} for r, p in v]
                          for k, v in self.first.items()}}
