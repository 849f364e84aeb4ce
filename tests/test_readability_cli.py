"""`workbench data stats` shows the `length` buckets by range, like the Data screen's chart,
and any other label most common first; both come from `Dataset.label_counts`."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.data.dataset import length_bucket, length_bucket_key, order_counts

from conftest import run_cli, write_rows


def printed_values(stdout: str) -> list[str]:
    """The value column of the printed table (rows with a share)."""
    return [line.split()[0] for line in stdout.splitlines() if line.startswith("    ")
            and "%" in line]


def test_order_counts():
    counts = {"256-511": 50, "unrenderable": 9, "1024+": 1, "0-63": 3, "64-127": 20}
    assert list(order_counts("length", counts)) == ["0-63", "64-127", "256-511", "1024+",
                                                    "unrenderable"]
    assert list(order_counts("ending", {"sad": 5, "happy": 32, "odd": 7})) == [
        "happy", "odd", "sad"]
    buckets = [length_bucket(n) for n in (-1, 5000, 700, 300, 130, 64, 0)]
    assert sorted(buckets, key=length_bucket_key) == [
        "0-63", "64-127", "128-255", "256-511", "512-1023", "1024+", "unrenderable"]


def test_data_stats_prints_length_buckets_by_range(tmp_path):
    # most rows are long: by count the long bucket would come first
    data = write_rows(tmp_path / "d.jsonl", {"long": (30, 700), "short": (5, 40),
                                             "mid": (10, 250)})
    res = run_cli("data", "stats", str(data), "--label", "length", "--tokenizer", "bytes",
                  env={"WORKBENCH_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    buckets = printed_values(res.stdout)
    assert len(buckets) == 3, res.stdout
    assert buckets == sorted(buckets, key=length_bucket_key), res.stdout
    res = run_cli("data", "stats", str(data), "--label", "length", "--tokenizer", "bytes",
                  "--json", env={"WORKBENCH_CACHE": str(tmp_path / "cache")})
    counts = json.loads(res.stdout)["stats"]["train"]["counts"]
    assert list(counts) == buckets

    res = run_cli("data", "stats", str(data), "--label", "category",
                  env={"WORKBENCH_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    assert printed_values(res.stdout) == ["long", "mid", "short"]
