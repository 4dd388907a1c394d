"""The registry never lets a forecast see the future: a prediction issued at T is the same
whatever is published after T (revisions, later prices), training reads the data as known at
``as_of``, a tampered artifact is refused, and telemetry counts from its receipt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openvpp.audit.chain import AuditContext
from openvpp.core.errors import Conflict
from openvpp.forecasting.protocol import ModelKind
from openvpp.markets.data import COLUMNS
from openvpp.runtime import Runtime
from openvpp.seed import seed_demo

KEY = {"market": "EU-SDAC", "area": "NP", "product": "H", "series": "price"}
SOURCE = {"type": "market_data", "target": KEY}
START = datetime(2024, 1, 1, tzinfo=UTC)


def _frame(start: datetime, hours: int, values: np.ndarray, known_at: datetime) -> pd.DataFrame:
    times = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            **KEY,
            "start": times,
            "period_min": 60,
            "value": values,
            "unit": "EUR/MWh",
            "known_at": pd.Timestamp(known_at),
        }
    )
    return frame[list(COLUMNS)]


def _store(rt: Runtime, org: str, frame: pd.DataFrame, tag: str) -> None:
    rt.market_data.store(
        rt.uow(AuditContext(actor_type="system", actor_id="test", organization_id=org)),
        org,
        frame,
        fmt="test",
        source=tag,
        data=tag.encode(),
        rows_read=len(frame),
        report={},
        actor=None,
    )


@pytest.fixture
def org(runtime: Runtime) -> str:
    return seed_demo(runtime).organization_id


def _prices(hours: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    return 40 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 2, hours)


def _trained(rt: Runtime, org: str, as_of: datetime) -> str:
    model = rt.models.create(
        rt.uow(),
        org,
        None,
        name="naive",
        kind=ModelKind.PRICE,
        algorithm="seasonal_naive",
        data_source=SOURCE,
    )
    rt.models.train(
        rt.uow,
        org,
        {
            "model_id": model.id,
            "train_start": START.isoformat(),
            "train_end": (START + timedelta(days=20)).isoformat(),
            "as_of": as_of.isoformat(),
            "holdout_days": 3,
        },
        None,
        lambda _f, _m: None,
    )
    return model.id


def test_a_prediction_issued_at_t_ignores_everything_published_after_t(
    runtime: Runtime, org: str
) -> None:
    # 30 days of prices, each day known the day before at 12:00 UTC (like a day-ahead auction)
    for day in range(30):
        d = START + timedelta(days=day)
        _store(runtime, org, _frame(d, 24, _prices(24, day), d - timedelta(hours=12)), f"d{day}")
    issued = START + timedelta(days=24, hours=10)
    model_id = _trained(runtime, org, issued)
    horizon = (START + timedelta(days=25), START + timedelta(days=26))

    def ask() -> pd.DataFrame:
        forecast = runtime.predictions.predict(
            runtime.uow(readonly=True),
            runtime.uow(),
            org,
            None,
            model_id,
            *horizon,
            issued_at=issued,
        )
        return forecast.points

    before = ask()
    # a revision of every past price published after T, and new prices for days after T
    late = issued + timedelta(minutes=1)
    for day in range(30):
        d = START + timedelta(days=day)
        _store(runtime, org, _frame(d, 24, _prices(24, 100 + day), max(late, d)), f"r{day}")
    after = ask()
    pd.testing.assert_frame_equal(before, after)
    # the same question asked "now" does see the revisions
    now = runtime.predictions.predict(
        runtime.uow(readonly=True),
        runtime.uow(),
        org,
        None,
        model_id,
        *horizon,
        issued_at=late + timedelta(minutes=1),
    ).points
    assert not np.allclose(now["p50"], before["p50"])


def test_training_reads_the_data_as_known_at_as_of(runtime: Runtime, org: str) -> None:
    first = START + timedelta(days=40)
    _store(runtime, org, _frame(START, 30 * 24, _prices(30 * 24, 1), first), "v1")
    second = first + timedelta(days=1)
    _store(runtime, org, _frame(START, 30 * 24, 3 * _prices(30 * 24, 2), second), "v2")
    old = _trained(runtime, org, first + timedelta(hours=1))
    _, (version,) = runtime.models.get(runtime.uow(readonly=True), org, old)
    model = runtime.models.load(version)
    # the offsets learned from the first vintage are those of a noise of sd 2, not 6
    spread = float(model.offsets[2] - model.offsets[0])  # type: ignore[attr-defined]
    assert 3 < spread < 10


def test_a_tampered_artifact_is_refused(runtime: Runtime, org: str, tmp_path: Path) -> None:
    _store(runtime, org, _frame(START, 30 * 24, _prices(30 * 24, 1), START), "v1")
    model_id = _trained(runtime, org, START + timedelta(days=40))
    _, (version,) = runtime.models.get(runtime.uow(readonly=True), org, model_id)
    assert version.artifact is not None
    path = runtime.settings.var_dir / "models" / version.artifact
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    fresh = type(runtime.models)(runtime.clock, runtime.models._artifacts)  # no cache
    with pytest.raises(Conflict, match="SHA-256"):
        fresh.load(version)
