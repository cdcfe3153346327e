"""Run every benchmark in one process, on a PostgreSQL server it starts itself and on SQLite.

    nox -s bench            (or: python benchmarks/run.py [--repeat N])

Results are printed as a table of ratios against the raw alternative measured in
the same run, and saved as JSON under benchmarks/results/. Nothing here asserts a
time: the numbers are for people to read and compare with the targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

import bench_check  # noqa: E402
from pgcluster import PgCluster, PostgresNotFound  # noqa: E402

from wfsdk.demo import data  # noqa: E402

CONTRACT = ROOT / "docs" / "database" / "schema.md"
DUMP = ROOT.parent / "shared" / "fixtures" / "blog-2025-07-19.sql"


def databases(cluster: PgCluster | None, workdir: Path) -> dict[str, str]:
    urls = {}
    sqlite = workdir / "demo.sqlite"
    data.build(f"sqlite:///{sqlite}").dispose()
    urls["sqlite demo"] = f"sqlite:///{sqlite}"
    if cluster is not None:
        cluster.create_database("bench_demo")
        data.build(cluster.url("bench_demo")).dispose()
        urls["postgresql demo"] = cluster.url("bench_demo")
        if DUMP.is_file():
            cluster.create_database("bench_blog")
            cluster.load_sql_file("bench_blog", DUMP)
            urls["postgresql blog dump"] = cluster.url("bench_blog")
    return urls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    results: dict[str, Any] = {"when": dt.datetime.now(dt.UTC).isoformat(), "check": {}}
    cluster: PgCluster | None = PgCluster()
    try:
        cluster.start()  # type: ignore[union-attr]
    except PostgresNotFound as exc:
        print(f"PostgreSQL not available ({exc}); SQLite only", file=sys.stderr)
        cluster = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for label, url in databases(cluster, Path(tmp)).items():
                results["check"][label] = bench_check.run(url, str(CONTRACT), args.repeat)
    finally:
        if cluster is not None:
            cluster.cleanup()

    print(f"\n{'benchmark':<58} {'wfsdk ms':>10} {'raw ms':>10} {'ratio':>7}  target")
    for label, outcome in results["check"].items():
        print(
            f"{'check vs alembic compare_metadata, ' + label:<58} "
            f"{outcome['wfsdk_median_s'] * 1e3:>10.2f} {outcome['alembic_median_s'] * 1e3:>10.2f} "
            f"{outcome['ratio']:>7.2f}  <= 0.5"
        )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bench-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nsaved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
