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


class _EchoExogenous:
    """A test forecaster whose forecast is its exogenous column ``xfc``: its error is the
    error of the exogenous forecast it was given, so any leak of a later vintage shows."""

    kind = ModelKind.PRICE

    def fit(self, history: pd.DataFrame) -> _EchoExogenous:
        return self

    def predict(self, history: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
        values = history["xfc"].reindex(index).to_numpy()
        return pd.DataFrame({"p10": values, "p50": values, "p90": values}, index=index)


def _echo_registered() -> None:
    from openvpp.forecasting.registry.catalog import (
        ALGORITHMS,
        Algorithm,
        Strict,
        register_algorithm,
    )

    if "test_echo_exogenous" not in ALGORITHMS:
        register_algorithm(
            Algorithm(
                name="test_echo_exogenous",
                kinds=frozenset({ModelKind.PRICE}),
                description="test double",
                params=Strict,
                build=lambda _k, _p, _c: _EchoExogenous(),
                lookback_days=2,
            )
        )


def test_hold_out_forecasts_see_the_exogenous_vintage_of_their_issue_time(
    runtime: Runtime, org: str
) -> None:
    _echo_registered()
    hours = 20 * 24
    actual = _prices(hours, 1)
    _store(runtime, org, _frame(START, hours, actual, START), "prices")
    noisy = actual + np.where(np.arange(hours) % 2, 5.0, -5.0)  # a forecast off by 5
    times = pd.date_range(START, periods=hours, freq="h", tz="UTC")
    exog = {**KEY, "series": "xfc"}
    first = pd.DataFrame(
        {**exog, "start": times, "period_min": 60, "value": noisy, "unit": "EUR/MWh",
         "known_at": times - pd.Timedelta(days=1)}
    )[list(COLUMNS)]  # fmt: skip
    # the "forecast" revised to the actual value, published after delivery
    late = first.assign(value=actual, known_at=times + pd.Timedelta(hours=1))
    _store(runtime, org, first, "xfc-v1")
    _store(runtime, org, late, "xfc-v2")
    model = runtime.models.create(
        runtime.uow(), org, None, name="echo", kind=ModelKind.PRICE,
        algorithm="test_echo_exogenous",
        data_source={**SOURCE, "exogenous": {"xfc": exog}},
    )  # fmt: skip
    result = runtime.models.train(
        runtime.uow, org,
        {"model_id": model.id, "train_start": START.isoformat(),
         "train_end": (START + timedelta(days=20)).isoformat(),
         "as_of": (START + timedelta(days=25)).isoformat(), "holdout_days": 5},
        None, lambda _f, _m: None,
    )  # fmt: skip
    # with the revisions leaking in, the echo would be exact (MAE 0)
    assert result["metrics"]["holdout"]["mae"] == pytest.approx(5.0)


def test_a_training_killed_mid_way_is_failed_by_the_next_one(runtime: Runtime, org: str) -> None:
    _store(runtime, org, _frame(START, 30 * 24, _prices(30 * 24, 1), START), "v1")
    model_id = _trained(runtime, org, START + timedelta(days=40))
    _, (done,) = runtime.models.get(runtime.uow(readonly=True), org, model_id)
    from dataclasses import replace

    from openvpp.forecasting.registry.records import VersionStatus

    stuck = replace(
        done, id="00000000-0000-4000-8000-000000000001", version=2,
        status=VersionStatus.TRAINING, job_id="00000000-0000-4000-8000-00000000dead",
    )  # fmt: skip
    with runtime.uow() as uow:  # as a worker killed after it stored version 2
        uow.ai_models.add_version(stuck)
        model = uow.ai_models.get(org, model_id)
        assert model is not None
        uow.ai_models.update(replace(model, latest_version=2))
        uow.commit()
    runtime.models.train(
        runtime.uow, org,
        {"model_id": model_id, "train_start": START.isoformat(),
         "train_end": (START + timedelta(days=20)).isoformat(),
         "as_of": (START + timedelta(days=40)).isoformat(), "holdout_days": 0},
        None, lambda _f, _m: None,
    )  # fmt: skip
    _, versions = runtime.models.get(runtime.uow(readonly=True), org, model_id)
    assert [(v.version, v.status.value) for v in versions] == [
        (1, "ready"), (2, "failed"), (3, "ready"),
    ]  # fmt: skip
    assert versions[1].error == "training interrupted"


def test_a_missing_artifact_is_a_conflict(runtime: Runtime, org: str) -> None:
    _store(runtime, org, _frame(START, 30 * 24, _prices(30 * 24, 1), START), "v1")
    model_id = _trained(runtime, org, START + timedelta(days=40))
    _, (version,) = runtime.models.get(runtime.uow(readonly=True), org, model_id)
    assert version.artifact is not None
    (runtime.settings.var_dir / "models" / version.artifact).unlink()
    fresh = type(runtime.models)(runtime.clock, runtime.models._artifacts)  # no cache
    with pytest.raises(Conflict, match="missing"):
        fresh.load(version)


def test_ties_in_issue_time_go_to_the_run_stored_last(runtime: Runtime, org: str) -> None:
    for day in range(30):
        d = START + timedelta(days=day)
        _store(runtime, org, _frame(d, 24, _prices(24, day), d - timedelta(hours=12)), f"d{day}")
    issued = START + timedelta(days=24, hours=10)
    model_id = _trained(runtime, org, issued)
    day = (START + timedelta(days=25), START + timedelta(days=26))
    ids = [
        runtime.predictions.predict(
            runtime.uow(readonly=True), runtime.uow(), org, None, model_id, *day,
            issued_at=issued,
        ).run.id
        for _ in range(3)
    ]  # fmt: skip
    known = runtime.predictions.known_at(runtime.uow(readonly=True), org, model_id, *day)
    assert set(known["run_id"]) == {ids[-1]}
