"""Market data import end to end: parse a file and store every value with its known-at time,
then query a year back "as of" a given instant, on each backend.

The file is the epftoolbox NP benchmark (52,416 hours: 157,248 values with the two forecast
columns) from ``../shared/data`` when present, else the shipped PJM sample repeated. For each
backend the script migrates a fresh database (SQLite in a temporary directory; PostgreSQL and
MariaDB database ``openvpp_bench_md`` on the local server, when reachable), seeds the demo
organization, and times: parsing alone, the import (parse + duplicate screen + insert + audit,
one transaction), a re-import of the same file (everything a duplicate), and a query of one
year of hourly prices resampled to days. Prints one JSON line per backend.

    .venv/bin/python bench/bench_market_import.py [--backends sqlite,postgresql,mariadb]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _support import database

from openvpp.audit.chain import AuditContext
from openvpp.config import Settings
from openvpp.markets.data import parse_market_data
from openvpp.markets.records import SeriesKey
from openvpp.runtime import build_runtime
from openvpp.seed import seed_demo
from openvpp.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "epftoolbox" / "datasets" / "NP.csv"
SAMPLE = ROOT / "src" / "openvpp" / "demo" / "epftoolbox_PJM_2018-12-11_24.csv"
OPTIONS = {"market": "EU-SDAC", "area": "NP"}


def data() -> tuple[bytes, str]:
    if SHARED.exists():
        return SHARED.read_bytes(), str(SHARED.relative_to(ROOT.parent))
    return SAMPLE.read_bytes(), str(SAMPLE.relative_to(ROOT))


def bench(backend: str, body: bytes) -> dict[str, object]:
    with database(backend, "openvpp_bench_md") as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return {"backend": backend, "skipped": True}
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=url, var_dir=tmp, secret_key="b" * 40, log_level="WARNING"
        )
        rt = build_runtime(settings)
        try:
            upgrade(rt.engine)
            org = seed_demo(rt).organization_id
            ctx = AuditContext(actor_type="system", actor_id="bench", organization_id=org)
            t0 = time.perf_counter()
            parsed = parse_market_data(body, "epftoolbox", **OPTIONS)
            parse_s = time.perf_counter() - t0

            def run() -> tuple[float, int, int]:
                t = time.perf_counter()
                out = rt.market_data.import_file(
                    rt.uow(ctx), org, body, fmt="epftoolbox", options=OPTIONS,
                    source="bench", actor=None,
                )  # fmt: skip
                return time.perf_counter() - t, out.record.values_stored, out.record.duplicates

            first_s, stored, _ = run()
            again_s, _, duplicates = run()
            last = parsed.frame["start"].max().to_pydatetime()
            start = last.replace(year=last.year - 1)
            t = time.perf_counter()
            series = rt.market_data.series(
                rt.uow(readonly=True), org, SeriesKey("EU-SDAC", "NP", "H", "price"),
                start, last, resolution_min=1440, as_of=datetime(2030, 1, 1, tzinfo=UTC),
            )  # fmt: skip
            query_s = time.perf_counter() - t
        finally:
            rt.close()
    values = len(parsed.frame)
    return {
        "backend": backend,
        "values": values,
        "parse_s": round(parse_s, 3),
        "import_s": round(first_s, 3),
        "values_per_s": round(values / first_s),
        "stored": stored,
        "reimport_s": round(again_s, 3),
        "duplicates": duplicates,
        "query_year_daily_s": round(query_s, 3),
        "days": len(series.points),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    args = parser.parse_args()
    body, source = data()
    print(json.dumps({"file": source, "bytes": len(body)}))
    for backend in args.backends.split(","):
        print(json.dumps(bench(backend, body)), flush=True)


if __name__ == "__main__":
    main()
