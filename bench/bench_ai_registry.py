"""Model registry end to end on SQLite: train a model from stored market data (as a job would),
then issue predictions one after another (history read as known at the issue time, model
loaded from its artifact, forecast, stored) and read them back "as known at".

Data: the epftoolbox NP benchmark from ``../shared/data`` when present (the last two years are
used), else the shipped 120-day NP excerpt. Models: the seasonal naive baseline and the
day-ahead price ensemble (LEAR windows 56/84/364/728 days + LightGBM). Prints one JSON line
per model with the training time, predictions per second and p50/p99 latency of one
prediction, and the latency of an "as known at" query over 30 days.

    .venv/bin/python bench/bench_ai_registry.py [--predictions 100]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

from openvpp.audit.chain import AuditContext
from openvpp.config import Settings
from openvpp.forecasting.protocol import ModelKind
from openvpp.runtime import build_runtime
from openvpp.seed import seed_demo
from openvpp.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "epftoolbox" / "datasets" / "NP.csv"
SAMPLE = ROOT / "tests" / "data" / "forecasting" / "np_excerpt_120d.csv"
NP = {"market": "EU-SDAC", "area": "NP", "product": "H"}
SOURCE = {
    "type": "market_data",
    "target": {**NP, "series": "price"},
    "exogenous": {
        "load": {**NP, "series": "load_forecast"},
        "wind": {**NP, "series": "wind_forecast"},
    },
}
MODELS = {
    "seasonal_naive": {"season_hours": 168},
    "day_ahead_price": {"windows": [56, 84, 364, 728]},
}


def data() -> tuple[bytes, str]:
    if SHARED.exists():
        frame = pd.read_csv(SHARED)
        return frame.tail(730 * 24).to_csv(index=False).encode(), "NP.csv, last 730 days"
    return SAMPLE.read_bytes(), "np_excerpt_120d.csv"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--predictions", type=int, default=100)
    a = p.parse_args()
    body, name = data()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=f"sqlite:///{tmp}/bench.db",
            var_dir=tmp,
            secret_key="b" * 40,
            log_level="WARNING",
        )
        rt = build_runtime(settings)
        upgrade(rt.engine)
        org = seed_demo(rt).organization_id
        ctx = AuditContext(actor_type="system", actor_id="bench", organization_id=org)
        rt.market_data.import_file(
            rt.uow(ctx), org, body, fmt="epftoolbox",
            options={**{k: NP[k] for k in ("market", "area")}, "time_zone": "Europe/Brussels",
                     "exog_series": ["load_forecast", "wind_forecast"]},
            source=name, actor=None,
        )  # fmt: skip
        (info,) = [
            s for s in rt.market_data.catalog(rt.uow(readonly=True), org) if s.key.series == "price"
        ]
        local = pd.Timestamp(info.last_start).tz_convert("Europe/Brussels").normalize()
        days = (info.last_start - info.first_start).days
        n = min(a.predictions, days - 40)  # one prediction per day after the training window
        # local delivery days of the market, newest last
        bounds = pd.date_range(end=local, periods=n + 1, freq="D").tz_convert("UTC")
        train_end = bounds[0].to_pydatetime()
        for algorithm, params in MODELS.items():
            model = rt.models.create(
                rt.uow(ctx), org, None, name=algorithm, kind=ModelKind.PRICE,
                algorithm=algorithm, params=params, data_source=SOURCE,
            )  # fmt: skip
            t = time.perf_counter()
            rt.models.train(
                lambda: rt.uow(ctx), org,
                {"model_id": model.id, "train_start": info.first_start.isoformat(),
                 "train_end": train_end.isoformat(),
                 "as_of": (train_end - timedelta(hours=12)).isoformat(),
                 "holdout_days": 7},
                None, lambda _f, _m: None,
            )  # fmt: skip
            train_s = time.perf_counter() - t
            latencies = []
            for day, following in itertools.pairwise(bounds):
                t = time.perf_counter()
                rt.predictions.predict(
                    rt.uow(readonly=True), rt.uow(ctx), org, None, model.id,
                    day.to_pydatetime(), following.to_pydatetime(),
                    issued_at=(day - timedelta(hours=11)).to_pydatetime(),
                )  # fmt: skip
                latencies.append(time.perf_counter() - t)
            t = time.perf_counter()
            known = rt.predictions.known_at(
                rt.uow(readonly=True), org, model.id, train_end, train_end + timedelta(days=30)
            )
            query_s = time.perf_counter() - t
            ordered = sorted(latencies)
            print(
                json.dumps(
                    {
                        "data": name,
                        "algorithm": algorithm,
                        "train_s": round(train_s, 2),
                        "predictions": n,
                        "predict_per_s": round(n / sum(latencies), 1),
                        "predict_p50_ms": round(1000 * statistics.median(latencies), 1),
                        "predict_p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
                        "known_at_30_days_ms": round(1000 * query_s, 1),
                        "known_points": len(known),
                    }
                )
            )
        rt.close()


if __name__ == "__main__":
    main()
