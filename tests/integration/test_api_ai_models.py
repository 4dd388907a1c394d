"""The model registry over the API: models, training and evaluation jobs, predictions stored
with their issue time and read back "as known at", performance, access and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openvpp.runtime import Runtime
from tests.support import bearer, demo, other_org_operator

V = "/api/vpp"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "forecasting" / "np_excerpt_120d.csv"
SOURCE = {
    "type": "market_data",
    "target": {"market": "EU-SDAC", "area": "NP", "product": "H", "series": "price"},
}
# the sample covers 2018-08-27 .. 2018-12-24 (Europe/Oslo days; the file's local hours)
TRAIN = {
    "train_start": "2018-08-27T00:00:00Z",
    "train_end": "2018-11-30T00:00:00Z",
    "as_of": "2018-12-01T00:00:00Z",  # a backtest's version: the data known then
    "holdout_days": 7,
}


def _import(client: TestClient, h: dict[str, str], **options: str) -> None:
    r = client.post(
        f"{V}/market/data/import",
        headers={**h, "content-type": "text/csv"},
        params={"format": "epftoolbox", "market": "EU-SDAC", "area": "NP", **options},
        content=SAMPLE.read_bytes(),
    )
    assert r.status_code == 201, r.text


def _model(client: TestClient, h: dict[str, str], **over: Any) -> dict[str, Any]:
    body = {
        "name": "NP weekly naive",
        "kind": "price",
        "algorithm": "seasonal_naive",
        "params": {"season_hours": 168},
        "data_source": SOURCE,
        **over,
    }
    r = client.post(f"{V}/ai/models", headers=h, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _train(client: TestClient, rt: Runtime, h: dict[str, str], model_id: str) -> dict[str, Any]:
    r = client.post(f"{V}/ai/models/{model_id}/train", headers=h, json=TRAIN)
    assert r.status_code == 202, r.text
    job = rt.runner.run_once()
    assert job is not None and job.status.value == "succeeded", job
    return dict(job.result or {})


@pytest.fixture
def trader(client: TestClient) -> dict[str, str]:
    return bearer(client, demo("trader"))


def test_model_lifecycle_train_predict_and_known_at(
    client: TestClient, seeded: Runtime, trader: dict[str, str]
) -> None:
    _import(client, trader)
    model = _model(client, trader)
    assert model["latest_version"] == 0 and model["versions"] == []
    result = _train(client, seeded, trader, model["id"])
    assert result["version"] == 1
    holdout = result["metrics"]["holdout"]
    assert holdout["intervals"] == 7 * 24
    assert holdout["mae"] > 0 and 0 <= holdout["coverage_80"] <= 1
    assert holdout["baseline"] == "seasonal_naive_24h"

    got = client.get(f"{V}/ai/models/{model['id']}", headers=trader).json()
    assert got["latest_version"] == 1
    (version,) = got["versions"]
    assert version["status"] == "ready" and len(version["artifact_sha256"]) == 64
    assert version["train_end"].startswith("2018-11-30")

    # issued on 2018-12-02 for the next day, with the data known then
    ask = {
        "model_id": model["id"],
        "start": "2018-12-03T00:00:00Z",
        "end": "2018-12-04T00:00:00Z",
        "issued_at": "2018-12-02T10:00:00Z",
    }
    first = client.post(f"{V}/ai/predict", headers=trader, json=ask)
    assert first.status_code == 201, first.text
    run = first.json()
    assert run["version"] == 1 and len(run["points"]) == 24
    assert all(p["p10"] <= p["p50"] <= p["p90"] for p in run["points"])
    # weekly naive: the forecast for 12-03 hh is the price of 11-26 hh
    week_before = client.get(
        f"{V}/market/data",
        headers=trader,
        params={**SOURCE["target"], "start": "2018-11-26T00:00:00Z", "end": "2018-11-27T00:00:00Z"},
    ).json()["points"]
    assert [p["p50"] for p in run["points"]] == pytest.approx([p["value"] for p in week_before])

    later = client.post(
        f"{V}/ai/predict", headers=trader, json={**ask, "issued_at": "2018-12-02T11:00:00Z"}
    )
    assert later.status_code == 201
    window = {"start": "2018-12-03T00:00:00Z", "end": "2018-12-04T00:00:00Z"}
    before = client.get(
        f"{V}/ai/models/{model['id']}/predictions",
        headers=trader,
        params={**window, "as_of": "2018-12-02T10:30:00Z"},
    ).json()
    assert {p["run_id"] for p in before["points"]} == {run["id"]}
    now = client.get(f"{V}/ai/models/{model['id']}/predictions", headers=trader, params=window)
    assert {p["run_id"] for p in now.json()["points"]} == {later.json()["id"]}
    nothing = client.get(
        f"{V}/ai/models/{model['id']}/predictions",
        headers=trader,
        params={**window, "as_of": "2018-12-01T00:00:00Z"},
    ).json()
    assert nothing["points"] == []

    stored = client.get(f"{V}/ai/predictions/{run['id']}", headers=trader).json()
    assert [p["p50"] for p in stored["points"]] == pytest.approx([p["p50"] for p in run["points"]])

    perf = client.get(f"{V}/ai/models/{model['id']}/performance", headers=trader).json()
    (v1,) = perf["versions"]
    assert v1["holdout"]["intervals"] == 7 * 24
    assert v1["live"]["intervals"] == 48 and v1["live"]["runs"] == 2

    ev = client.post(
        f"{V}/ai/models/{model['id']}/evaluate",
        headers=trader,
        json={"start": "2018-12-01T00:00:00Z", "end": "2018-12-15T00:00:00Z"},
    )
    assert ev.status_code == 202, ev.text
    job = seeded.runner.run_once()
    assert job is not None and job.status.value == "succeeded", job
    assert job.result is not None and job.result["metrics"]["intervals"] == 14 * 24

    audit = client.get(
        f"{V}/audit", headers=bearer(client, demo("admin")), params={"action": "ai.predict"}
    ).json()
    assert len(audit) == 2


def test_a_version_trained_on_data_known_after_the_issue_time_is_refused(
    client: TestClient, seeded: Runtime, trader: dict[str, str]
) -> None:
    _import(client, trader)
    model = _model(client, trader)
    _train(client, seeded, trader, model["id"])
    r = client.post(
        f"{V}/ai/predict",
        headers=trader,
        json={
            "model_id": model["id"],
            "start": "2018-11-20T00:00:00Z",
            "end": "2018-11-21T00:00:00Z",
            "issued_at": "2018-11-19T10:00:00Z",
        },
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "issued_at"
    ev = client.post(
        f"{V}/ai/models/{model['id']}/evaluate",
        headers=trader,
        json={"start": "2018-11-20T00:00:00Z", "end": "2018-11-25T00:00:00Z"},
    )
    assert ev.status_code == 422 and ev.json()["error"]["field"] == "params.start"


def test_versions_are_immutable_and_deleted_models_disappear(
    client: TestClient, seeded: Runtime, trader: dict[str, str]
) -> None:
    _import(client, trader)
    model = _model(client, trader)
    _train(client, seeded, trader, model["id"])
    patched = client.patch(
        f"{V}/ai/models/{model['id']}", headers=trader, json={"params": {"season_hours": 24}}
    )
    assert patched.status_code == 200 and patched.json()["params"] == {"season_hours": 24}
    put = client.put(  # the seed's method for the same change
        f"{V}/ai/models/{model['id']}", headers=trader, json={"description": "daily season"}
    )
    assert put.status_code == 200, put.text
    assert put.json()["description"] == "daily season"
    assert put.json()["params"] == {"season_hours": 24}
    _train(client, seeded, trader, model["id"])
    versions = client.get(f"{V}/ai/models/{model['id']}", headers=trader).json()["versions"]
    assert [v["params"]["season_hours"] for v in versions] == [168, 24]

    assert client.delete(f"{V}/ai/models/{model['id']}", headers=trader).status_code == 204
    assert client.get(f"{V}/ai/models/{model['id']}", headers=trader).status_code == 404
    assert client.get(f"{V}/ai/models", headers=trader).json() == []
    # the name is free again
    assert _model(client, trader)["name"] == "NP weekly naive"


def test_failed_training_is_a_failed_version_with_the_reason(
    client: TestClient, seeded: Runtime, trader: dict[str, str]
) -> None:
    model = _model(client, trader)  # no market data imported
    r = client.post(f"{V}/ai/models/{model['id']}/train", headers=trader, json=TRAIN)
    assert r.status_code == 202
    job = seeded.runner.run_once()
    assert job is not None and job.status.value == "failed"
    assert "0 known target values" in (job.error or "")
    (version,) = client.get(f"{V}/ai/models/{model['id']}", headers=trader).json()["versions"]
    assert version["status"] == "failed" and "0 known" in version["error"]
    ask = {"model_id": model["id"], "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}
    r = client.post(f"{V}/ai/predict", headers=trader, json=ask)
    assert r.status_code == 409 and r.json()["error"]["field"] == "version"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"algorithm": "nope"}, "algorithm"),
        ({"kind": "weather"}, "kind"),
        ({"params": {"season_hours": 0}}, "params.season_hours"),
        ({"params": {"unknown": 1}}, "params.unknown"),
        ({"data_source": {"type": "market_data"}}, "data_source.market_data.target"),
        ({"data_source": {"type": "ftp"}}, "data_source"),
        (
            {"data_source": {**SOURCE, "resolution_min": 7}},
            "data_source.market_data.resolution_min",
        ),
        ({"name": ""}, "name"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_models_are_refused_naming_the_field(
    client: TestClient, trader: dict[str, str], over: dict[str, Any], field: str
) -> None:
    body = {
        "name": "m",
        "kind": "price",
        "algorithm": "seasonal_naive",
        "data_source": SOURCE,
        **over,
    }
    r = client.post(f"{V}/ai/models", headers=trader, json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert field in (error.get("field") or "") + " ".join(
        f["field"] for f in error.get("fields") or []
    )
    assert client.get(f"{V}/ai/models", headers=trader).json() == []


def test_bad_requests_and_other_organizations(
    client: TestClient, seeded: Runtime, trader: dict[str, str]
) -> None:
    model = _model(client, trader)
    dup = client.post(
        f"{V}/ai/models",
        headers=trader,
        json={
            "name": model["name"],
            "kind": "load",
            "algorithm": "seasonal_naive",
            "data_source": SOURCE,
        },
    )
    assert dup.status_code == 409 and dup.json()["error"]["field"] == "name"
    bad_train = client.post(
        f"{V}/ai/models/{model['id']}/train",
        headers=trader,
        json={"train_start": "2018-01-01T00:00:00Z", "train_end": "2018-01-01T12:00:00Z"},
    )
    assert bad_train.status_code == 422
    future = client.post(
        f"{V}/ai/models/{model['id']}/train", headers=trader, json={"as_of": "2999-01-01T00:00:00Z"}
    )
    assert future.status_code == 422 and future.json()["error"]["field"] == "params.as_of"
    long = client.post(
        f"{V}/ai/predict",
        headers=trader,
        json={
            "model_id": model["id"],
            "start": "2030-01-01T00:00:00Z",
            "end": "2030-02-01T00:00:00Z",
        },
    )
    assert long.status_code == 422 and long.json()["error"]["field"] == "end"
    other = other_org_operator(client, seeded)
    assert client.get(f"{V}/ai/models/{model['id']}", headers=other).status_code == 404
    assert (
        client.post(f"{V}/ai/models/{model['id']}/train", headers=other, json={}).status_code == 404
    )
    assert client.delete(f"{V}/ai/models/{model['id']}", headers=other).status_code == 404
    viewer = bearer(client, demo("viewer"))
    assert client.get(f"{V}/ai/models", headers=viewer).status_code == 200
    assert (
        client.post(f"{V}/ai/models/{model['id']}/train", headers=viewer, json={}).status_code
        == 403
    )


def test_risk_model_assesses_a_schedule_with_and_without_a_price_model(
    client: TestClient, seeded: Runtime, trader: dict[str, str]
) -> None:
    _import(client, trader)
    risk = _model(
        client,
        trader,
        name="NP risk",
        kind="risk",
        algorithm="historical_risk",
        params={"alpha": 0.95, "window_days": 60, "n_scenarios": 2000},
    )
    _train(client, seeded, trader, risk["id"])
    price = _model(client, trader, name="NP naive")
    _train(client, seeded, trader, price["id"])
    day = [f"2018-12-03T{h:02d}:00:00Z" for h in range(24)]
    flat = [{"start": t, "mwh": 1.0} for t in day]
    body = {"model_id": risk["id"], "volumes": flat, "as_of": "2018-12-02T12:00:00Z"}
    hist = client.post(f"{V}/ai/risk/assess", headers=trader, json=body)
    assert hist.status_code == 200, hist.text
    h = hist.json()
    assert h["method"] == "historical" and h["cvar"] >= h["var"] > 0
    assert len(h["spike_prob"]) == 24 and all(0 <= s["p"] <= 1 for s in h["spike_prob"])
    double = client.post(
        f"{V}/ai/risk/assess",
        headers=trader,
        json={**body, "volumes": [{"start": t, "mwh": 2.0} for t in day]},
    ).json()
    assert double["var"] == pytest.approx(2 * h["var"])

    # the quantile method needs the price model's predictions known at as_of
    missing = client.post(
        f"{V}/ai/risk/assess", headers=trader, json={**body, "price_model_id": price["id"]}
    )
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "price_model_id"
    ask = {
        "model_id": price["id"],
        "start": day[0],
        "end": "2018-12-04T00:00:00Z",
        "issued_at": "2018-12-02T10:00:00Z",
    }
    assert client.post(f"{V}/ai/predict", headers=trader, json=ask).status_code == 201
    quant = client.post(
        f"{V}/ai/risk/assess", headers=trader, json={**body, "price_model_id": price["id"]}
    )
    assert quant.status_code == 200, quant.text
    q = quant.json()
    assert q["method"] == "quantile" and q["cvar"] >= q["var"] > 0
    not_risk = client.post(
        f"{V}/ai/risk/assess", headers=trader, json={**body, "model_id": price["id"]}
    )
    assert not_risk.status_code == 422 and not_risk.json()["error"]["field"] == "model_id"
    bad = client.post(
        f"{V}/ai/risk/assess",
        headers=trader,
        json={**body, "volumes": [{"start": day[0], "mwh": "NaN"}]},
    )
    assert bad.status_code == 422


def test_market_conditions_per_day_as_known_at(client: TestClient, trader: dict[str, str]) -> None:
    _import(client, trader, time_zone="Europe/Brussels")  # the market's days
    params = {**SOURCE["target"], "start": "2018-12-01", "end": "2018-12-08"}
    r = client.get(f"{V}/market/conditions", headers=trader, params=params)
    assert r.status_code == 200, r.text
    days = r.json()
    assert [d["day"] for d in days] == [f"2018-12-0{i}" for i in range(1, 8)]
    prices = [float(line.split(",")[1]) for line in SAMPLE.read_text().splitlines()[1:]]
    dec3 = prices[(98) * 24 : (99) * 24]  # 2018-08-27 + 98 days = 2018-12-03
    got = next(d for d in days if d["day"] == "2018-12-03")
    assert got["spread"] == pytest.approx(max(dec3) - min(dec3))
    assert got["mean"] == pytest.approx(sum(dec3) / 24)
    assert {d["regime"] for d in days} <= {"low", "normal", "high"}
    assert all(0 <= d["scarcity"] <= 1 and d["volatility"] > 0 for d in days)
    before = client.get(
        f"{V}/market/conditions",
        headers=trader,
        params={**params, "as_of": "2018-01-01T00:00:00Z"},
    )
    assert before.status_code == 200 and before.json() == []
    bad = client.get(
        f"{V}/market/conditions", headers=trader, params={**params, "end": "2021-01-01"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "end"


def test_times_outside_1900_2199_are_refused_naming_the_field(
    client: TestClient, seeded: Runtime, trader: dict[str, str]
) -> None:
    _import(client, trader)
    model = _model(client, trader)
    _train(client, seeded, trader, model["id"])
    far, far_end = "9999-12-30T00:00:00Z", "9999-12-31T00:00:00Z"
    early, early_end = "0001-01-01T00:00:00Z", "0001-01-05T00:00:00Z"
    mid = model["id"]
    train, evaluate = f"/ai/models/{mid}/train", f"/ai/models/{mid}/evaluate"
    cases = [
        ("post", "/ai/predict", {"model_id": mid, "start": far, "end": far_end}, "start"),
        ("post", "/ai/predict",
         {"model_id": mid, "start": early, "end": early_end, "issued_at": early}, "issued_at"),
        ("post", train,
         {"train_start": early, "train_end": early_end, "as_of": early_end}, "params.as_of"),
        ("post", train, {"train_start": far, "train_end": far_end}, "params.train_start"),
        ("post", evaluate, {"start": early, "end": early_end}, "params.start"),
        ("get", f"/ai/models/{mid}/predictions", {"start": early, "end": early_end}, "start"),
        ("get", "/market/conditions",
         {**SOURCE["target"], "start": "0001-01-01", "end": "0001-01-05"}, "start"),
    ]  # fmt: skip
    for method, path, payload, field in cases:
        if method == "post":
            r = client.post(f"{V}{path}", headers=trader, json=payload)
        else:
            r = client.get(f"{V}{path}", headers=trader, params=payload)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"]["field"] == field, (path, r.text)


def test_odd_numbers_are_a_422_not_a_500(client: TestClient, trader: dict[str, str]) -> None:
    model = _model(client, trader)
    huge = 2**63
    ask = {"model_id": model["id"], "version": huge, "start": "2030-01-01T00:00:00Z",
           "end": "2030-01-02T00:00:00Z"}  # fmt: skip
    r = client.post(f"{V}/ai/predict", headers=trader, json=ask)
    assert r.status_code == 422 and "version" in r.text
    r = client.post(
        f"{V}/ai/models/{model['id']}/evaluate",
        headers=trader,
        json={"version": huge, "start": "2018-01-01T00:00:00Z", "end": "2018-01-05T00:00:00Z"},
    )
    assert r.status_code == 422 and "version" in r.text
    for value in ("NaN", "Infinity"):
        body = (
            '{"name": "r", "kind": "risk", "algorithm": "historical_risk", "params": '
            f'{{"threshold": {value}}}, "data_source": {{"type": "market_data", "target": '
            '{"market": "EU-SDAC", "area": "NP", "product": "H"}}}'
        )
        r = client.post(
            f"{V}/ai/models", headers={**trader, "content-type": "application/json"}, content=body
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "params.threshold"
    long_season = client.post(
        f"{V}/ai/models",
        headers=trader,
        json={"name": "s", "kind": "load", "algorithm": "seasonal_naive",
              "params": {"season_hours": 24 * 70}, "data_source": SOURCE},
    )  # fmt: skip
    assert long_season.status_code == 422
    assert long_season.json()["error"]["field"] == "params.season_hours"
