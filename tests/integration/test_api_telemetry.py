"""Telemetry through the API on every backend: JSON and CSV ingest, the fault flag, status from
freshness (read-time and the refresh job), maintenance, resampling, organization isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openvpp.resources.telemetry import LATE_TOLERANCE
from openvpp.runtime import Runtime
from tests.support import (
    ShiftClock,
    bearer,
    demo,
    metric_samples,
    other_org_operator,
    telemetry_points_key,
)

BATTERY = {
    "name": "Battery A",
    "resource_type": "battery",
    "grid_node": "PARK-110kV",
    # 2 MW: readings beyond 2.4 MW are implausible; soc band [0.05, 0.95] (the defaults)
    "parameters": {"energy_mwh": 4.0, "p_charge_max_mw": 2.0, "p_discharge_max_mw": 2.0},
}
STALE_AFTER_S = 900


def create(client: TestClient, headers: dict[str, str], **overrides: Any) -> str:
    response = client.post("/api/vpp/resources", headers=headers, json={**BATTERY, **overrides})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def recent(clock: ShiftClock, minutes_ago: float) -> datetime:
    """A time ``minutes_ago`` before the test clock's now, on a whole second."""
    return (clock.now() - timedelta(minutes=minutes_ago)).replace(microsecond=0)


def post_csv(client: TestClient, headers: dict[str, str], text: str) -> Any:
    return client.post(
        "/api/vpp/telemetry",
        headers={**headers, "Content-Type": "text/csv; charset=utf-8"},
        content=text.encode(),
    )


def status_of(client: TestClient, headers: dict[str, str], rid: str) -> dict[str, Any]:
    response = client.get(f"/api/vpp/resources/{rid}/status", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def series(client: TestClient, headers: dict[str, str], rid: str, **params: Any) -> Any:
    response = client.get(f"/api/vpp/resources/{rid}/telemetry", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def points_counted(
    client: TestClient, outcomes: list[tuple[str, str]]
) -> dict[tuple[str, str], float]:
    """``openvpp_telemetry_points_total`` of each (outcome, reason), from one /metrics scrape."""
    samples = metric_samples(client.get("/metrics").text)
    return {k: samples.get(telemetry_points_key(*k), 0.0) for k in outcomes}


def test_json_ingest_dedupes_rejects_and_updates_status(
    client: TestClient, clock: ShiftClock
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    t0 = recent(clock, 8)
    at = [iso(t0 + timedelta(minutes=2 * i)) for i in range(4)]
    points = [
        {"resource_id": rid, "ts": at[0], "power_mw": 1.0, "soc": 0.5},
        {"resource_id": rid, "ts": at[1], "power_mw": -1.5, "soc": 0.45},
        {"resource_id": rid, "ts": at[1], "power_mw": -1.5, "soc": 0.45},
        {"resource_id": rid, "ts": at[2], "power_mw": 9.0},
        {"resource_id": rid, "ts": at[3], "power_mw": 0.1, "soc": 1.5},
        {"resource_id": "no-such-resource", "ts": at[3], "power_mw": 0.1},
    ]
    outcomes = [("accepted", ""), ("duplicate", "")]
    outcomes += [("rejected", r) for r in ("out_of_range", "unknown_resource", "out_of_order")]
    before = points_counted(client, outcomes)
    first = client.post("/api/vpp/telemetry", headers=operator, json={"points": points})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 1
    assert body["rejected"] == {"out_of_range": 2, "unknown_resource": 1}
    # Re-sent points are duplicates; a new point older than the newest by more than a day is
    # out of order; a late one within the day is stored, the newest reading stays the newest.
    older = (t0 - LATE_TOLERANCE - timedelta(minutes=2)).astimezone(UTC)
    late = iso(t0 - timedelta(minutes=2))
    again = client.post(
        "/api/vpp/telemetry",
        headers=operator,
        json={
            "points": [
                points[1],
                {"resource_id": rid, "ts": iso(older), "power_mw": 0.0},
                {"resource_id": rid, "ts": late, "power_mw": 0.25},
                {
                    "resource_id": rid,
                    "ts": (t0 + timedelta(hours=1)).astimezone(UTC).isoformat()[:19] + "+01:00",
                    "power_mw": 0.0,
                },
            ]
        },
    ).json()
    # The +01:00 reading is at[0] in UTC: older than the newest, but stored, so a duplicate.
    assert again["duplicates"] == 2
    assert again["accepted"] == 1
    assert again["rejected"] == {"out_of_order": 1}
    counted = {k: v - before[k] for k, v in points_counted(client, outcomes).items()}
    assert counted == {
        ("accepted", ""): 3,
        ("duplicate", ""): 3,
        ("rejected", "out_of_range"): 2,
        ("rejected", "unknown_resource"): 1,
        ("rejected", "out_of_order"): 1,
    }
    status = status_of(client, operator, rid)
    assert status["status"] == "online"
    assert status["last_seen_at"] == at[1]
    assert [(p["ts"], p["power_mw"], p["fault"]) for p in series(client, operator, rid)] == [
        (late, 0.25, False),
        (at[0], 1.0, False),
        (at[1], -1.5, False),
    ]
    paged = series(client, operator, rid, limit=1, offset=2)
    assert [p["ts"] for p in paged] == [at[1]]
    malformed = client.post(
        "/api/vpp/telemetry",
        headers=operator,
        json={"points": [{"resource_id": rid, "ts": "2026-03-29T00:00:00", "power_mw": 1.0}]},
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["field"] == "body.points.0.ts"
    # Deleting the resource deletes its telemetry.
    assert client.delete(f"/api/vpp/resources/{rid}", headers=operator).status_code == 204


def test_csv_ingest_stores_soc_and_fault_with_one_audit_row(
    client: TestClient, clock: ShiftClock
) -> None:
    operator = bearer(client, demo("operator"))
    admin = bearer(client, demo("admin"))
    rid = create(client, operator)
    t0 = recent(clock, 30)
    berlin = (t0 + timedelta(minutes=15)).astimezone(UTC) + timedelta(hours=1)
    text = (
        "ts,resource_id,power_mw,fault,soc\r\n"  # any column order, CRLF line ends
        f"{iso(t0)},{rid},1.25,false,0.5\r\n"
        f"{berlin.replace(tzinfo=None).isoformat()}+01:00,{rid},-0.5,,\r\n"
        "\r\n"
        f"{iso(t0 + timedelta(minutes=30))},{rid},0.0,true,0.4\r\n"
        f"{iso(t0)},unknown-id,0.0,0,\r\n"
    )
    response = post_csv(client, operator, text)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": {"unknown_resource": 1},
        "examples": ["points[3]: unknown resource"],
    }
    stored = series(client, operator, rid)
    assert [(p["power_mw"], p["soc"], p["fault"]) for p in stored] == [
        (1.25, 0.5, False),
        (-0.5, None, False),
        (0.0, 0.4, True),
    ]
    assert stored[1]["ts"] == iso(t0 + timedelta(minutes=15))
    assert status_of(client, operator, rid)["status"] == "fault"  # the newest reading
    audit = client.get(
        "/api/vpp/audit", headers=admin, params={"action": "telemetry.ingest"}
    ).json()
    assert len(audit) == 1
    assert audit[0]["after"]["accepted"] == 3
    assert audit[0]["after"]["statuses"] == {rid: "fault"}


@pytest.mark.parametrize(
    ("body", "line", "column"),
    [
        ("resource_id,ts\n", 1, "power_mw"),  # a required column is missing
        ("resource_id,ts,power_mw,speed\n", 1, "speed"),  # an unknown column
        ("{rid},{ts},1.0\n{rid},{ts2},one\n", 3, "power_mw"),  # not a number
        ("{rid},2026-03-29T00:00:00,1.0\n", 2, "ts"),  # no offset
        ("{rid},29.03.2026 00:00,1.0\n", 2, "ts"),  # not ISO 8601
        ("{rid},{ts},1.0\n{rid},{ts2}\n", 3, "power_mw"),  # a field short
        ("{rid},{ts},1.0,0.5\n", 2, None),  # a field too many
        ("{rid},{ts},1.0\n{rid},{ts2},1.0,,\n", 3, None),
    ],
)
def test_malformed_csv_is_refused_naming_line_and_column_and_nothing_is_stored(
    client: TestClient, clock: ShiftClock, body: str, line: int, column: str | None
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    t0 = recent(clock, 20)
    header = "" if body.startswith("resource_id") else "resource_id,ts,power_mw\n"
    text = header + body.format(rid=rid, ts=iso(t0), ts2=iso(t0 + timedelta(minutes=5)))
    response = post_csv(client, operator, text)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert f"line {line}" in error["message"]
    if column is not None:
        assert f"column {column}" in error["message"]
        assert error["field"] == f"body.line_{line}.{column}"
    assert series(client, operator, rid) == []
    assert status_of(client, operator, rid)["status"] == "offline"


def test_other_media_types_and_empty_or_undecodable_csv_are_refused(client: TestClient) -> None:
    operator = bearer(client, demo("operator"))
    plain = client.post(
        "/api/vpp/telemetry",
        headers={**operator, "Content-Type": "text/plain"},
        content=b"resource_id,ts,power_mw\n",
    )
    assert plain.status_code == 415
    assert plain.json()["error"]["code"] == "unsupported_media_type"
    assert post_csv(client, operator, "resource_id,ts,power_mw\n").status_code == 422
    latin1 = client.post(
        "/api/vpp/telemetry",
        headers={**operator, "Content-Type": "text/csv"},
        content="resource_id,ts,power_mw\nKraftwerk Höhe,x,1\n".encode("latin-1"),
    )
    assert latin1.status_code == 422
    assert latin1.json()["error"]["field"] == "body"


def test_csv_over_the_body_limit_is_refused(client: TestClient, seeded: Runtime) -> None:
    operator = bearer(client, demo("operator"))
    line = "x" * 36 + ",2026-03-29T00:00:00Z,1.0\n"
    text = "resource_id,ts,power_mw\n" + line * (seeded.settings.max_body_bytes // len(line) + 1)
    assert post_csv(client, operator, text).status_code == 413


def test_fault_flag_and_soc_outside_the_band_mean_fault_until_a_good_reading(
    client: TestClient, clock: ShiftClock
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    t0 = recent(clock, 10)

    def send(minute: int, **values: Any) -> None:
        point = {"resource_id": rid, "ts": iso(t0 + timedelta(minutes=minute)), **values}
        response = client.post("/api/vpp/telemetry", headers=operator, json={"points": [point]})
        assert response.status_code == 200 and response.json()["accepted"] == 1, response.text

    send(0, power_mw=0.5, fault=True)
    first = status_of(client, operator, rid)
    assert first["status"] == "fault"
    send(1, power_mw=0.5, soc=0.5)
    assert status_of(client, operator, rid)["status"] == "online"
    send(2, power_mw=0.5, soc=0.97)  # above soc_max 0.95 plus the 0.01 tolerance
    assert status_of(client, operator, rid)["status"] == "fault"
    send(3, power_mw=0.5, soc=0.955)  # within the tolerance
    assert status_of(client, operator, rid)["status"] == "online"
    points = series(client, operator, rid)
    assert [p["fault"] for p in points] == [True, False, False, False]


def test_a_silent_resource_reads_offline_and_the_job_records_it(
    client: TestClient, clock: ShiftClock, seeded: Runtime
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    other = create(client, operator, name="Battery B")
    last = recent(clock, 1)
    response = client.post(
        "/api/vpp/telemetry",
        headers=operator,
        json={
            "points": [
                {"resource_id": rid, "ts": iso(last), "power_mw": 0.2},
                {"resource_id": other, "ts": iso(last), "power_mw": 0.2, "fault": True},
            ]
        },
    )
    assert response.json()["accepted"] == 2
    assert status_of(client, operator, rid)["status"] == "online"
    listed = client.get("/api/vpp/resources", headers=operator, params={"status": "online"})
    assert [r["id"] for r in listed.json()] == [rid]

    clock.advance(STALE_AFTER_S + 60)  # the newest reading is now 16 minutes old
    operator = bearer(client, demo("operator"))  # the old access token has expired
    status = status_of(client, operator, rid)
    assert status["status"] == "offline"
    went_silent = iso(last + timedelta(seconds=STALE_AFTER_S))
    assert status["status_changed_at"] == went_silent
    by_status = {
        s: [
            r["id"]
            for r in client.get("/api/vpp/resources", headers=operator, params={"status": s}).json()
        ]
        for s in ("online", "fault", "offline")
    }
    assert by_status == {"online": [], "fault": [], "offline": [rid, other]}  # by name
    assert all(
        r["status"] == "offline" for r in client.get("/api/vpp/resources", headers=operator).json()
    )
    with seeded.uow(readonly=True) as uow:  # not recorded yet: only the reads know
        stored = uow.resources.get(seeded_org(seeded), rid)
    assert stored is not None and stored.status.value == "online"

    job = client.post("/api/vpp/jobs", headers=operator, json={"kind": "resources.refresh_status"})
    assert job.status_code == 202, job.text
    done = seeded.runner.run_once()
    assert done is not None and done.status.value == "succeeded", done
    assert done.result is not None and done.result["marked_offline"] == 2
    with seeded.uow(readonly=True) as uow:
        stored = uow.resources.get(seeded_org(seeded), rid)
    assert stored is not None and stored.status.value == "offline"
    assert stored.status_changed_at == last + timedelta(seconds=STALE_AFTER_S)
    assert status_of(client, operator, rid)["status_changed_at"] == went_silent
    admin = bearer(client, demo("admin"))
    audit = client.get(
        "/api/vpp/audit", headers=admin, params={"action": "resource.status.refresh"}
    ).json()
    assert len(audit) == 1 and audit[0]["after"]["offline"] == 2

    # A fresh reading brings it back.
    fresh = recent(clock, 0)
    client.post(
        "/api/vpp/telemetry",
        headers=operator,
        json={"points": [{"resource_id": rid, "ts": iso(fresh), "power_mw": 0.1}]},
    )
    assert status_of(client, operator, rid)["status"] == "online"
    again = client.post(
        "/api/vpp/jobs", headers=operator, json={"kind": "resources.refresh_status"}
    )
    assert again.status_code == 202
    rerun = seeded.runner.run_once()
    assert rerun is not None and rerun.result is not None and rerun.result["marked_offline"] == 0


def seeded_org(rt: Runtime) -> str:
    with rt.uow(readonly=True) as uow:
        org = uow.organizations.get_by_slug("demo")
    assert org is not None
    return org.id


def test_maintenance_is_never_overridden_by_telemetry_or_the_job(
    client: TestClient, clock: ShiftClock, seeded: Runtime
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    patched = client.patch(
        f"/api/vpp/resources/{rid}", headers=operator, json={"maintenance": True}
    )
    assert patched.json()["status"] == "maintenance"
    since = patched.json()["status_changed_at"]
    t0 = recent(clock, 2)
    for minute, fault in ((0, False), (1, True)):
        client.post(
            "/api/vpp/telemetry",
            headers=operator,
            json={
                "points": [
                    {
                        "resource_id": rid,
                        "ts": iso(t0 + timedelta(minutes=minute)),
                        "power_mw": 0.1,
                        "fault": fault,
                    }
                ]
            },
        )
        status = status_of(client, operator, rid)
        assert status["status"] == "maintenance"
        assert status["status_changed_at"] == since
    assert status["last_seen_at"] == iso(t0 + timedelta(minutes=1))
    clock.advance(STALE_AFTER_S + 120)
    seeded.telemetry.refresh_status(seeded.uow(), None)
    operator = bearer(client, demo("operator"))
    assert status_of(client, operator, rid)["status"] == "maintenance"
    listed = client.get("/api/vpp/resources", headers=operator, params={"status": "maintenance"})
    assert [r["id"] for r in listed.json()] == [rid]
    # Out of maintenance: offline until the next reading.
    client.patch(f"/api/vpp/resources/{rid}", headers=operator, json={"maintenance": False})
    assert status_of(client, operator, rid)["status"] == "offline"


def test_resampled_buckets_hold_mean_min_max_last_soc_count_and_fault(
    client: TestClient,
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    values = [  # (minute, power, soc, fault)
        (0, 1.0, 0.5, False),
        (5, 2.0, None, False),
        (10, -0.6, 0.4, False),
        (15, 0.3, None, True),
        (30, 1.2, 0.6, False),
        (70, -2.0, 0.3, False),
    ]
    points = [
        {
            "resource_id": rid,
            "ts": iso(t0 + timedelta(minutes=m)),
            "power_mw": p,
            "soc": soc,
            "fault": fault,
        }
        for m, p, soc, fault in values
    ]
    assert (
        client.post("/api/vpp/telemetry", headers=operator, json={"points": points}).json()[
            "accepted"
        ]
        == 6
    )
    window = {"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T12:00:00Z"}
    quarter = series(client, operator, rid, resolution="15min", **window)
    assert [(b["start"], b["count"]) for b in quarter] == [
        ("2026-03-02T10:00:00Z", 3),
        ("2026-03-02T10:15:00Z", 1),
        ("2026-03-02T10:30:00Z", 1),
        ("2026-03-02T11:00:00Z", 1),
    ]
    first = quarter[0]
    assert first["end"] == "2026-03-02T10:15:00Z"
    assert first["power_mw_mean"] == pytest.approx((1.0 + 2.0 - 0.6) / 3)
    assert (first["power_mw_min"], first["power_mw_max"]) == (-0.6, 2.0)
    assert first["soc_last"] == 0.4
    assert first["fault"] is False
    assert quarter[1]["fault"] is True and quarter[1]["soc_last"] is None
    hourly = series(client, operator, rid, resolution="1h", **window)
    assert [(b["start"], b["end"], b["count"]) for b in hourly] == [
        ("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z", 5),
        ("2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z", 1),
    ]
    assert hourly[0]["power_mw_mean"] == pytest.approx((1.0 + 2.0 - 0.6 + 0.3 + 1.2) / 5)
    assert hourly[0]["soc_last"] == 0.6 and hourly[0]["fault"] is True
    # start/end bound the raw rows read: [10:05, 11:00) holds four readings.
    narrow = series(
        client,
        operator,
        rid,
        resolution="1h",
        start="2026-03-02T10:05:00Z",
        end="2026-03-02T11:00:00Z",
    )
    assert [b["count"] for b in narrow] == [4]


def test_daily_buckets_follow_local_midnight_across_the_dst_change(client: TestClient) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    # Hourly readings from 2026-03-28 00:00 to 2026-03-31 00:00 Berlin time (UTC+1, then +2
    # from 2026-03-29 02:00 local): 71 readings, power = the reading's index.
    start = datetime(2026, 3, 27, 23, 0, tzinfo=UTC)
    points = [
        {"resource_id": rid, "ts": iso(start + timedelta(hours=h)), "power_mw": h / 100}
        for h in range(71)
    ]
    client.post("/api/vpp/telemetry", headers=operator, json={"points": points})
    days = series(
        client,
        operator,
        rid,
        resolution="1d",
        tz="Europe/Berlin",
        start="2026-03-28T00:00:00+01:00",
        end="2026-03-31T00:00:00+02:00",
    )
    assert [(d["start"], d["end"], d["count"]) for d in days] == [
        ("2026-03-27T23:00:00Z", "2026-03-28T23:00:00Z", 24),
        ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 23),  # 23 h: clocks go forward
        ("2026-03-29T22:00:00Z", "2026-03-30T22:00:00Z", 24),
    ]
    assert days[1]["power_mw_mean"] == pytest.approx(sum(range(24, 47)) / 23 / 100)
    utc_days = series(
        client,
        operator,
        rid,
        resolution="1d",
        start="2026-03-28T00:00:00Z",
        end="2026-03-31T00:00:00Z",
    )
    assert [(d["start"], d["count"]) for d in utc_days] == [
        ("2026-03-28T00:00:00Z", 24),
        ("2026-03-29T00:00:00Z", 24),
        ("2026-03-30T00:00:00Z", 22),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"resolution": "1h", "end": "2026-03-02T00:00:00Z"}, "start"),
        ({"resolution": "1h", "start": "2026-03-02T00:00:00Z"}, "end"),
        ({"resolution": "1d", "tz": "Mars/Olympus", **{"start": "2026-03-02T00:00:00Z"}}, "tz"),
        (
            {"resolution": "1h", "start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
            "end",
        ),
        (
            {"resolution": "15min", "start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "resolution",
        ),
        ({"resolution": "5min"}, "query.resolution"),
    ],
)
def test_bad_resample_requests_are_refused(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    response = client.get(f"/api/vpp/resources/{rid}/telemetry", headers=operator, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_resources_of_another_organization_count_as_unknown(
    client: TestClient, clock: ShiftClock, seeded: Runtime
) -> None:
    operator = bearer(client, demo("operator"))
    rid = create(client, operator)
    theirs = other_org_operator(client, seeded)
    ts = iso(recent(clock, 1))
    as_json = client.post(
        "/api/vpp/telemetry",
        headers=theirs,
        json={"points": [{"resource_id": rid, "ts": ts, "power_mw": 1.0, "fault": True}]},
    ).json()
    as_csv = post_csv(client, theirs, f"resource_id,ts,power_mw\n{rid},{ts},1.0\n").json()
    for answer in (as_json, as_csv):
        assert answer["accepted"] == 0
        assert answer["rejected"] == {"unknown_resource": 1}
    assert series(client, operator, rid) == []
    assert status_of(client, operator, rid)["status"] == "offline"
    assert client.get(f"/api/vpp/resources/{rid}/telemetry", headers=theirs).status_code == 404
    assert (
        client.get(
            f"/api/vpp/resources/{rid}/telemetry",
            headers=theirs,
            params={"resolution": "1h", "start": ts, "end": iso(recent(clock, -60))},
        ).status_code
        == 404
    )
