"""Market data history on every backend: import counts, vintages ("as known at"),
conflicts, resampling and the catalog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from openvpp.core.errors import ValidationFailed
from openvpp.markets.data_service import ImportOutcome
from openvpp.markets.records import SeriesKey
from openvpp.runtime import Runtime
from tests.support import bearer, demo, other_org_operator

V = "/api/vpp"
DAY = datetime(2026, 3, 29, tzinfo=UTC)  # Europe/Berlin spring forward: 23 hours


def frame(
    values: list[float],
    known_at: datetime,
    *,
    start: datetime = DAY - timedelta(hours=1),
    period_min: int = 60,
    series: str = "price",
) -> pd.DataFrame:
    starts = pd.date_range(start, periods=len(values), freq=f"{period_min}min", tz="UTC")
    return pd.DataFrame(
        {
            "market": "EU-SDAC",
            "area": "DE-LU",
            "product": "H",
            "series": series,
            "start": starts,
            "period_min": period_min,
            "value": values,
            "unit": "EUR/MWh",
            "known_at": pd.Timestamp(known_at),
        }
    )


def org_of(rt: Runtime) -> str:
    with rt.uow(readonly=True) as uow:
        org = uow.organizations.get_by_slug("demo")
    assert org is not None
    return org.id


def store(rt: Runtime, f: pd.DataFrame, source: str = "test.csv") -> ImportOutcome:
    return rt.market_data.store(
        rt.uow(),
        org_of(rt),
        f,
        fmt="test",
        source=source,
        data=source.encode(),
        rows_read=len(f),
        report={},
        actor=None,
    )


KEY = SeriesKey("EU-SDAC", "DE-LU", "H", "price")


def test_import_counts_duplicates_and_conflicts(seeded: Runtime) -> None:
    first = frame([10.0 + i for i in range(23)], DAY - timedelta(hours=11))
    outcome = store(seeded, first)
    assert outcome.record.values_stored == 23
    again = store(seeded, first)
    assert again.record.values_stored == 0
    assert again.record.duplicates == 23
    changed = first.copy()
    changed.loc[3, "value"] = 99.123456
    conflict = store(seeded, changed)
    assert conflict.record.conflicts == 1
    assert conflict.record.duplicates == 22
    assert conflict.conflict_examples[0]["stored_value"] == pytest.approx(13.0)
    # the stored value is not overwritten
    data = seeded.market_data.series(
        seeded.uow(readonly=True),
        org_of(seeded),
        KEY,
        DAY - timedelta(hours=1),
        DAY + timedelta(hours=22),
    )
    assert list(data.points["value"]) == [10.0 + i for i in range(23)]


def test_as_of_returns_the_vintage_known_then(seeded: Runtime) -> None:
    early = DAY - timedelta(hours=11)
    store(seeded, frame([50.0] * 23, early), "first")
    store(seeded, frame([60.0] * 23, early + timedelta(hours=5)), "revision")
    org = org_of(seeded)
    end = DAY + timedelta(hours=22)
    before = seeded.market_data.series(
        seeded.uow(readonly=True),
        org,
        KEY,
        DAY - timedelta(hours=1),
        end,
        as_of=early - timedelta(seconds=1),
    )
    assert before.points.empty
    first = seeded.market_data.series(
        seeded.uow(readonly=True),
        org,
        KEY,
        DAY - timedelta(hours=1),
        end,
        as_of=early + timedelta(hours=1),
    )
    assert set(first.points["value"]) == {50.0}
    latest = seeded.market_data.series(
        seeded.uow(readonly=True), org, KEY, DAY - timedelta(hours=1), end
    )
    assert set(latest.points["value"]) == {60.0}
    assert len(latest.points) == 23


def test_daily_resolution_follows_the_market_day(seeded: Runtime) -> None:
    store(seeded, frame([float(i) for i in range(23)], DAY - timedelta(hours=11)))
    data = seeded.market_data.series(
        seeded.uow(readonly=True),
        org_of(seeded),
        KEY,
        DAY - timedelta(hours=1),
        DAY + timedelta(hours=22),
        resolution_min=1440,
    )
    assert len(data.points) == 1
    row = data.points.iloc[0]
    assert row["end"] - row["start"] == timedelta(hours=23)
    assert row["value"] == pytest.approx(11.0)
    assert row["coverage"] == pytest.approx(1.0)


def test_query_refuses_bad_ranges(seeded: Runtime) -> None:
    org = org_of(seeded)
    with pytest.raises(ValidationFailed) as exc:
        seeded.market_data.series(seeded.uow(readonly=True), org, KEY, DAY, DAY)
    assert exc.value.field == "end"
    with pytest.raises(ValidationFailed) as exc:
        seeded.market_data.series(
            seeded.uow(readonly=True), org, KEY, DAY, DAY + timedelta(days=1), resolution_min=7
        )
    assert exc.value.field == "resolution"


def test_api_query_catalog_imports_and_isolation(client: TestClient, seeded: Runtime) -> None:
    store(seeded, frame([float(i) for i in range(23)], DAY - timedelta(hours=11)))
    h = bearer(client, demo("viewer"))
    params = {
        "market": "EU-SDAC",
        "area": "DE-LU",
        "product": "H",
        "start": "2026-03-28T23:00:00Z",
        "end": "2026-03-29T22:00:00Z",
    }
    r = client.get(f"{V}/market/data", headers=h, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unit"] == "EUR/MWh" and body["period_min"] == 60
    assert len(body["points"]) == 23
    assert body["points"][2]["value"] == 2.0
    quarter = client.get(f"{V}/market/data", headers=h, params={**params, "resolution": 15})
    assert len(quarter.json()["points"]) == 92
    assert (
        client.get(f"{V}/market/data", headers=h, params={**params, "resolution": 7}).status_code
        == 422
    )
    naive = client.get(
        f"{V}/market/data", headers=h, params={**params, "start": "2026-03-28T23:00"}
    )
    assert naive.status_code == 422
    catalog = client.get(f"{V}/market/data/series", headers=h).json()
    assert catalog[0]["values"] == 23 and catalog[0]["series"] == "price"
    imports = client.get(f"{V}/market/data/imports", headers=h).json()
    assert imports[0]["values_stored"] == 23
    other = other_org_operator(client, seeded)
    assert client.get(f"{V}/market/data", headers=other, params=params).json()["points"] == []
    assert client.get(f"{V}/market/data/series", headers=other).json() == []


def test_an_unchanged_value_published_again_is_a_duplicate_a_changed_one_a_revision(
    seeded: Runtime,
) -> None:
    t0 = DAY - timedelta(hours=11)
    store(seeded, frame([50.0] * 23, t0))
    again = store(seeded, frame([50.0] * 23, t0 + timedelta(hours=1)), "re-published")
    assert (again.record.values_stored, again.record.duplicates) == (0, 23)
    revised = frame([50.0] * 23, t0 + timedelta(hours=2))
    revised.loc[0, "value"] = 51.0
    changed = store(seeded, revised, "revision")
    assert (changed.record.values_stored, changed.record.duplicates) == (1, 22)
    org = org_of(seeded)
    end = DAY + timedelta(hours=22)
    first = seeded.market_data.series(
        seeded.uow(readonly=True), org, KEY, DAY - timedelta(hours=1), end,
        as_of=t0 + timedelta(minutes=90),
    )  # fmt: skip
    assert first.points["value"].iloc[0] == 50.0
    latest = seeded.market_data.series(
        seeded.uow(readonly=True), org, KEY, DAY - timedelta(hours=1), end
    )
    assert latest.points["value"].iloc[0] == 51.0


def test_long_series_names_and_units_are_stored_whole(seeded: Runtime) -> None:
    names = ["a" * 32 + "_first", "a" * 32 + "_second"]
    parts = [frame([1.0], DAY - timedelta(hours=11), series=n) for n in names]
    f = pd.concat(parts, ignore_index=True)
    f["unit"] = "EUR/MWh per block of 4 hours"
    outcome = store(seeded, f)
    assert outcome.record.values_stored == 2
    catalog = seeded.market_data.catalog(seeded.uow(readonly=True), org_of(seeded), "EU-SDAC")
    assert sorted(s.key.series for s in catalog) == sorted(names)
    assert {s.unit for s in catalog} == {"EUR/MWh per block of 4 hours"}


def test_frames_that_do_not_fit_the_history_are_refused(seeded: Runtime) -> None:
    for column, value in (("area", "dk1"), ("series", "Price"), ("unit", "x" * 33)):
        bad = frame([1.0], DAY)
        bad[column] = value
        with pytest.raises(ValidationFailed) as exc:
            store(seeded, bad)
        assert exc.value.field == column
