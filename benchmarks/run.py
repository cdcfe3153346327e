"""Run every benchmark in one process, on a PostgreSQL server it starts itself and on SQLite.

    nox -s bench            (or: python benchmarks/run.py [--quick] [--only read,tree,...])

Results are printed as a table of ratios against the raw alternative measured in
the same run, and saved as JSON under benchmarks/results/. Nothing here asserts a
time: the numbers are for people to read and compare with the targets. What each
side of each comparison does is written at the top of its module and in README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

import bench_check  # noqa: E402
import bench_read  # noqa: E402
import bench_tree  # noqa: E402
import bench_write  # noqa: E402
from common import environment  # noqa: E402

import wfsdk  # noqa: E402
from wfsdk.demo import data  # noqa: E402

from pgcluster import PgCluster, PostgresNotFound  # noqa: E402

CONTRACT = ROOT / "docs" / "database" / "schema.md"
DUMP = ROOT.parent / "shared" / "fixtures" / "blog-2025-07-19.sql"
SECTIONS = ("read", "tree", "write", "check", "growth")
GROWTH = (1, 10, 100)


class Databases:
    """Fresh demo databases, one per use, on the benchmark's own server and on SQLite."""

    def __init__(self, cluster: PgCluster | None, workdir: Path) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.count = 0

    def demo(self, dialect: str) -> str:
        self.count += 1
        if dialect == "sqlite":
            url = f"sqlite:///{self.workdir / f'demo-{self.count}.sqlite'}"
        else:
            assert self.cluster is not None
            url = self.cluster.url(self.cluster.create_database(f"bench_{self.count}"))
        data.build(url).dispose()
        return url

    def dialects(self) -> tuple[str, ...]:
        return ("postgresql", "sqlite") if self.cluster is not None else ("sqlite",)


def _row(
    label: str, wfsdk_s: float, base_s: float, target: float | None, unit: float = 1e6
) -> dict[str, Any]:
    ratio = wfsdk_s / base_s
    verdict = "" if target is None else ("meets" if ratio <= target else "MISSES")
    return {
        "benchmark": label,
        "wfsdk": wfsdk_s * unit,
        "baseline": base_s * unit,
        "ratio": ratio,
        "target": target,
        "verdict": verdict,
    }


def _median(timings: dict[str, Any], name: str) -> float:
    return float(timings[name]["median_s"])


def read_section(dbs: Databases, quick: bool, table: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for dialect in dbs.dialects():
        result = bench_read.run(dbs.demo(dialect), rounds=8 if quick else 30)
        out[dialect] = result
        t = result["timings"]
        if dialect == "postgresql":
            table.append(_row("one-row read vs raw psycopg (us)", *_pair(t, "raw psycopg"), 1.2))
            table.append(
                _row("  ... vs raw psycopg via the pool", *_pair(t, "raw psycopg via pool"), None)
            )
            table.append(_row("  ... vs SQLAlchemy Core", *_pair(t, "sqlalchemy core"), None))
        else:
            table.append(
                _row("one-row read, SQLite, vs raw sqlite3 (us)", *_pair(t, "raw sqlite3"), None)
            )
            table.append(_row("  ... vs SQLAlchemy Core", *_pair(t, "sqlalchemy core"), None))
        guard = result["guard"]
        table.append(
            {
                "benchmark": f"guard: cached classify / bind + classify, {dialect} (us)",
                "wfsdk": guard["classify_cached_s"] * 1e6,
                "baseline": guard["bind_and_classify_s"] * 1e6,
                "ratio": None,
                "target": "< 5 us",
                "verdict": "meets" if guard["classify_cached_s"] < 5e-6 else "MISSES",
            }
        )
    return out


def _pair(timings: dict[str, Any], baseline: str) -> tuple[float, float]:
    return _median(timings, "wfsdk"), _median(timings, baseline)


def tree_section(dbs: Databases, quick: bool, table: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for dialect in dbs.dialects():
        result = bench_tree.run(dbs.demo(dialect), rounds=6 if quick else 20)
        out[dialect] = result
        t = result["timings"]
        raw = "raw psycopg" if dialect == "postgresql" else "raw sqlite3"
        target = 1.1 if dialect == "postgresql" else None
        # The baseline sends what tree() sends: the three statements in one transaction.
        table.append(
            _row(f"tree(), {dialect}, vs {raw}, one transaction (us)", *_pair(t, raw), target)
        )
        table.append(_row("  ... vs SQLAlchemy Core", *_pair(t, "sqlalchemy core"), None))
        table.append(
            _row(
                f"  ... vs {raw}, three transactions",
                *_pair(t, f"{raw}, three transactions"),
                None,
            )
        )
        if f"{raw} via the pool" in t:
            table.append(
                _row(f"  ... vs {raw} via the pool", *_pair(t, f"{raw} via the pool"), None)
            )
        table.append(_row(f"  ... vs {raw}, rows only", *_pair(t, f"{raw}, rows only"), None))
    return out


def write_section(dbs: Databases, quick: bool, table: list[dict[str, Any]]) -> dict[str, Any]:
    if dbs.cluster is None:
        return {"skipped": "no PostgreSQL server"}
    result = bench_write.run(dbs.demo("postgresql"), rounds=4 if quick else 10)
    t = result["timings"]
    if result["plugins_missing"]:
        print(f"policy plugins not loaded: {result['plugins_missing']}", file=sys.stderr)
    for name, target in (
        ("wfsdk + audit + backup", 2.5),
        ("wfsdk + audit + backup + approval", None),
        ("wfsdk, kernel only", None),
    ):
        if name not in t:
            continue
        label = f"status update: {name} vs raw UPDATE; COMMIT (us)"
        table.append(_row(label, _median(t, name), _median(t, "raw psycopg"), target))
    return result


def check_section(dbs: Databases, quick: bool, table: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    urls = {f"{d} demo": dbs.demo(d) for d in dbs.dialects()}
    if dbs.cluster is not None and DUMP.is_file():
        dbs.cluster.create_database("bench_blog")
        dbs.cluster.load_sql_file("bench_blog", DUMP)
        urls["postgresql blog dump"] = dbs.cluster.url("bench_blog")
    for label, url in urls.items():
        result = bench_check.run(url, str(CONTRACT), 5 if quick else 20)
        out[label] = result
        table.append(
            _row(
                f"check vs Alembic compare_metadata, {label} (ms)",
                result["wfsdk_median_s"],
                result["alembic_median_s"],
                0.5,
                unit=1e3,
            )
        )
    return out


def growth_section(dbs: Databases, quick: bool, table: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"tree": {}, "check": {}}
    for dialect in dbs.dialects():
        raw = "raw psycopg" if dialect == "postgresql" else "raw sqlite3"
        first: float | None = None
        for factor in GROWTH:
            url = dbs.demo(dialect)
            bench_tree.multiply(url, factor)
            rounds, batch = (3, max(2, 20 // factor)) if quick else (8, max(3, 60 // factor))
            result = bench_tree.run(url, rounds=rounds, batch=batch)
            out["tree"][f"{dialect} x{factor}"] = result
            wfsdk_s, raw_s = _pair(result["timings"], raw)
            first = first or wfsdk_s
            table.append(
                {
                    "benchmark": f"tree(), {dialect}, x{factor} ({result['steps']} steps) (ms)",
                    "wfsdk": wfsdk_s * 1e3,
                    "baseline": raw_s * 1e3,
                    "ratio": wfsdk_s / raw_s,
                    "target": f"growth x{wfsdk_s / first:.1f} for x{factor}",
                    "verdict": "linear or better" if wfsdk_s / first <= factor * 1.15 else "WORSE",
                }
            )
        first = None
        for factor in GROWTH:
            url = dbs.demo(dialect)
            with tempfile.TemporaryDirectory() as tmp:
                contract = bench_check.scale(url, factor, CONTRACT, Path(tmp) / "schema.md")
                repeat = max(2, (5 if quick else 12) // factor)
                result = bench_check.run(url, str(contract), repeat)
            out["check"][f"{dialect} x{factor}"] = result
            wfsdk_s = result["wfsdk_median_s"]
            first = first or wfsdk_s
            table.append(
                {
                    "benchmark": f"check, {dialect}, x{factor} tables ({result['tables']}) (ms)",
                    "wfsdk": wfsdk_s * 1e3,
                    "baseline": result["alembic_median_s"] * 1e3,
                    "ratio": result["ratio"],
                    "target": f"growth x{wfsdk_s / first:.1f} for x{factor}",
                    "verdict": (
                        ("linear or better" if wfsdk_s / first <= factor * 1.15 else "WORSE")
                        + ("" if result["wfsdk_ok"] else ", CONTRACT MISMATCH")
                    ),
                }
            )
    return out


RUNNERS: dict[str, Callable[[Databases, bool, list[dict[str, Any]]], dict[str, Any]]] = {
    "read": read_section,
    "tree": tree_section,
    "write": write_section,
    "check": check_section,
    "growth": growth_section,
}


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'benchmark':<72} {'wfsdk':>10} {'baseline':>10} {'ratio':>6}  target / verdict")
    for row in rows:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}"
        target = (
            ""
            if row["target"] is None
            else f"<= {row['target']}"
            if isinstance(row["target"], float)
            else str(row["target"])
        )
        print(
            f"{row['benchmark']:<72} {row['wfsdk']:>10.1f} {row['baseline']:>10.1f} "
            f"{ratio:>6}  {target} {row['verdict']}".rstrip()
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a first look")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}"
    )
    parser.add_argument("--label", default="", help="a word added to the result file's name")
    args = parser.parse_args()
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    cluster: PgCluster | None = None
    try:
        # fsync and synchronous commit on: the raw commit must be as durable as wfsdk's
        # journal records. Statement logging off: it would weigh on every round trip.
        cluster = PgCluster(fsync=True, extra_settings={"log_statement": "'none'"})
        cluster.start()
    except PostgresNotFound as exc:
        print(f"PostgreSQL not available ({exc}); SQLite only", file=sys.stderr)
        cluster = None
    table: list[dict[str, Any]] = []
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(),
        "environment": environment(
            {
                "wfsdk": str(Path(wfsdk.__file__).parent),
                "postgresql": cluster.server_version if cluster else None,
                "quick": args.quick,
            }
        ),
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dbs = Databases(cluster, Path(tmp))
            for section in sections:
                print(f"running {section} ...", file=sys.stderr, flush=True)
                results[section] = RUNNERS[section](dbs, args.quick, table)
    finally:
        if cluster is not None:
            cluster.cleanup()
    results["table"] = table
    print_table(table)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    label = f"-{args.label}" if args.label else ""
    path = out / f"bench-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}{label}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nsaved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
