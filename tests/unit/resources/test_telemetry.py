"""Telemetry screening: every bad reading is rejected and counted, nothing else."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.dispatch.gateway_service import telemetry_points
from openvpp.dispatch.protocol import DeviceMode, GatewayEvents, TelemetrySample
from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.telemetry import (
    LATE_TOLERANCE,
    CsvFormatError,
    TelemetryPoint,
    capacity_mw,
    current_status,
    derive_status,
    parse_csv,
    resample,
    screen,
)
from openvpp.resources.templates import BUILTIN, ResourceType

T0 = datetime(2026, 10, 25, tzinfo=UTC)


def resource(kind: ResourceType = ResourceType.BATTERY, last: datetime | None = None) -> Resource:
    params = BUILTIN[(kind, 1)]().model_dump()
    return Resource(
        id="r1",
        organization_id="o",
        name="r",
        resource_type=kind,
        template_version=1,
        parameters=params,
        grid_node="n",
        latitude=None,
        longitude=None,
        status=ResourceStatus.OFFLINE,
        status_changed_at=T0,
        created_at=T0,
        updated_at=T0,
        last_seen_at=last,
    )


def test_every_type_has_a_capacity() -> None:
    for kind in ResourceType:
        assert capacity_mw(resource(kind)) > 0


def test_screening_counts_each_reason() -> None:
    points = [
        TelemetryPoint("r1", T0, 0.5),
        TelemetryPoint("r1", T0 + timedelta(minutes=15), math.nan),
        TelemetryPoint("r1", T0 + timedelta(minutes=30), math.inf),
        TelemetryPoint("r1", T0 + timedelta(minutes=45), 99.0),
        TelemetryPoint("r1", T0 + timedelta(minutes=60), 0.1, soc=-0.1),
        TelemetryPoint("zz", T0, 0.1),
        TelemetryPoint("r1", T0, 0.5),
    ]
    keep, result = screen(points, {"r1": resource()})
    assert [p.ts for p in keep] == [T0]
    assert result.accepted == 1
    assert result.duplicates == 1
    assert dict(result.rejected) == {"not_finite": 2, "out_of_range": 2, "unknown_resource": 1}
    assert len(result.examples) == 5


def test_late_points_are_kept_within_the_tolerance_and_out_of_order_beyond() -> None:
    keep, result = screen(
        [
            TelemetryPoint("r1", T0 - LATE_TOLERANCE - timedelta(seconds=1), 0.1),
            TelemetryPoint("r1", T0 - LATE_TOLERANCE, 0.2),
            TelemetryPoint("r1", T0 - timedelta(minutes=15), 0.3),
            TelemetryPoint("r1", T0 - timedelta(minutes=15), 0.3),  # twice in the batch
            TelemetryPoint("r1", T0, 0.1),
            TelemetryPoint("r1", T0 + timedelta(minutes=15), 0.1),
        ],
        {"r1": resource(last=T0)},
    )
    assert [p.ts for p in keep] == [
        T0 - LATE_TOLERANCE,
        T0 - timedelta(minutes=15),
        T0 + timedelta(minutes=15),
    ]
    assert result.accepted == 3
    assert result.duplicates == 2
    assert dict(result.rejected) == {"out_of_order": 1}


def test_wind_capacity_comes_from_the_turbine_curve() -> None:
    farm = resource(ResourceType.WIND)  # default: one E-101/3050, curve tops at 3.0 MW
    assert capacity_mw(farm) == 3.0
    _, result = screen(
        [TelemetryPoint("r1", T0, 3.5), TelemetryPoint("r1", T0 + timedelta(minutes=15), 4.0)],
        {"r1": farm},
    )
    assert result.accepted == 1  # 3.5 MW is within 1.2 x 3.0; 4.0 MW is not
    assert dict(result.rejected) == {"out_of_range": 1}


def test_late_points_that_are_stored_already_are_duplicates() -> None:
    stored_ts = T0 - timedelta(minutes=30)
    keep, result = screen(
        [TelemetryPoint("r1", stored_ts, 0.1), TelemetryPoint("r1", T0 - timedelta(hours=1), 0.1)],
        {"r1": resource(last=T0)},
        lambda late: {(p.resource_id, p.ts) for p in late if p.ts == stored_ts},
    )
    assert [p.ts for p in keep] == [T0 - timedelta(hours=1)]  # late, not stored: kept
    assert result.duplicates == 1
    assert not result.rejected


STALE = timedelta(seconds=900)


def test_status_follows_freshness_fault_flag_and_soc_band() -> None:
    now = T0 + timedelta(minutes=5)
    battery = resource()
    assert (
        derive_status(battery, TelemetryPoint("r1", T0, 0.1), now, STALE) is ResourceStatus.ONLINE
    )
    faulty = TelemetryPoint("r1", T0, 0.1, fault=True)
    assert derive_status(battery, faulty, now, STALE) is ResourceStatus.FAULT
    for soc, expected in ((0.04, ResourceStatus.ONLINE), (0.03, ResourceStatus.FAULT)):
        point = TelemetryPoint("r1", T0, 0.1, soc=soc)  # soc_min 0.05, tolerance 0.01
        assert derive_status(battery, point, now, STALE) is expected
    late = now + STALE
    assert derive_status(battery, faulty, late, STALE) is ResourceStatus.OFFLINE
    pv = resource(ResourceType.PV)
    assert derive_status(pv, TelemetryPoint("r1", T0, 0.1, soc=0.0), now, STALE) is (
        ResourceStatus.ONLINE
    )  # the soc band is a battery rule
    resting = replace(battery, status=ResourceStatus.MAINTENANCE)
    assert derive_status(resting, faulty, now, STALE) is ResourceStatus.MAINTENANCE


def test_reads_report_a_silent_resource_offline_since_it_went_silent() -> None:
    online = replace(resource(last=T0), status=ResourceStatus.ONLINE)
    assert current_status(online, T0 + STALE, STALE) is online  # exactly at the limit: fresh
    later = current_status(online, T0 + STALE + timedelta(seconds=1), STALE)
    assert later.status is ResourceStatus.OFFLINE
    assert later.status_changed_at == T0 + STALE
    resting = replace(online, status=ResourceStatus.MAINTENANCE)
    assert current_status(resting, T0 + 10 * STALE, STALE) is resting


def test_csv_parses_columns_in_any_order_and_names_the_bad_place() -> None:
    points = parse_csv(
        "\ufeffFault, ts ,resource_id,power_mw,soc\n"
        "yes,2026-10-25T02:30:00+02:00,r1,1.5,\n"
        "0,2026-10-25T02:30:00+01:00,r1,-2,0.25\n"
    )
    assert points == [
        TelemetryPoint("r1", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 1.5, None, True),
        TelemetryPoint("r1", datetime(2026, 10, 25, 1, 30, tzinfo=UTC), -2.0, 0.25, False),
    ]
    cases = {
        "resource_id,ts,power_mw\nr1,2026-10-25T00:00Z,1,\n": (2, None),
        "resource_id,ts,power_mw,fault\nr1,2026-10-25T00:00Z,1,maybe\n": (2, "fault"),
        "resource_id,ts,power_mw,soc\nr1,2026-10-25T00:00Z,1,half\n": (2, "soc"),
        "resource_id,ts,power_mw\n,2026-10-25T00:00Z,1\n": (2, "resource_id"),
        "resource_id,ts,power_mw,ts\n": (1, None),
        'resource_id,ts,power_mw\n"r1,2026-10-25T00:00Z,1\n': (2, None),
    }
    for text, (line, column) in cases.items():
        with pytest.raises(CsvFormatError) as caught:
            parse_csv(text)
        assert (caught.value.line, caught.value.column) == (line, column), text
    with pytest.raises(CsvFormatError, match="more than 2 points"):
        parse_csv("resource_id,ts,power_mw\n" + "r1,2026-10-25T00:00Z,1\n" * 3, max_points=2)


def test_resample_aligns_to_the_utc_epoch_and_to_local_days() -> None:
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # Berlin 2026-10-25 00:00 (+02:00)
    points = [TelemetryPoint("r1", start + timedelta(hours=h), float(h)) for h in range(27)]
    hours = resample(points, "1h")
    assert len(hours) == 27 and hours[0].start == start and hours[0].count == 1
    days = resample(points, "1d", ZoneInfo("Europe/Berlin"))
    # 2026-10-25 has 25 hours in Berlin (clocks go back at 03:00)
    assert [(d.start, d.end - d.start, d.count) for d in days] == [
        (start, timedelta(hours=25), 25),
        (start + timedelta(hours=25), timedelta(hours=24), 2),
    ]
    assert days[0].power_mw_mean == sum(range(25)) / 25
    quarter = resample([TelemetryPoint("r1", start + timedelta(minutes=7), 1.0)], "15min")
    assert quarter[0].start == start and quarter[0].end == start + timedelta(minutes=15)
    assert resample([], "1h") == []


def test_points_from_the_future_are_rejected_and_do_not_move_the_latest_reading() -> None:
    points = [
        TelemetryPoint("r1", T0, 0.1),
        TelemetryPoint("r1", T0 + timedelta(minutes=5), 0.1),  # within the tolerance
        TelemetryPoint("r1", T0 + timedelta(days=365), 0.1),  # a clock a year ahead
    ]
    keep, result = screen(points, {"r1": resource()}, not_after=T0 + timedelta(minutes=5))
    assert [p.ts for p in keep] == [T0, T0 + timedelta(minutes=5)]
    assert dict(result.rejected) == {"in_future": 1}


HEADER = "resource_id,ts,power_mw,soc,fault"
cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["r1", "2026-10-25T00:00Z", "2026-10-25T02:30:00+02:00", "9999-12-31T23:59:59-23:59",
     "0001-01-01T00:00:00+14:00", "1.5", "nan", "-inf", "1e309", "", "yes", "maybe", '"', "\r"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    header=st.sampled_from([HEADER, "ts,power_mw,resource_id", "\ufeffresource_id,ts,power_mw"])
    | st.text(max_size=60),
    rows=st.lists(st.lists(cells, max_size=6), max_size=8),
    tail=st.text(max_size=40),
)
def test_csv_fuzz_only_clean_validation_errors(
    header: str, rows: list[list[str]], tail: str
) -> None:
    """RELIABILITY item 21: any text, and rows of plausible and hostile cells under a real
    header, parse or fail with a CsvFormatError naming a line within the text; nothing else
    escapes (no ValueError, OverflowError, csv.Error, IndexError)."""
    text = "\n".join([header, *(",".join(r) for r in rows)]) + tail
    failed: CsvFormatError | None = None
    try:
        points = parse_csv(text)
    except CsvFormatError as exc:
        failed, points = exc, []
    if failed is not None:
        lines = text.count("\n") + text.count("\r") + 1
        assert 1 <= failed.line <= lines, (failed.line, text)
        assert failed.field is not None and failed.field.startswith("body.line_")
    assert all(p.ts.tzinfo is not None for p in points)


def test_a_gateway_reading_that_is_not_finite_is_counted_not_skipped() -> None:
    """The dispatch loop's gateway samples go to the screen as they are: a NaN or infinite
    reading is counted as ``not_finite``, not dropped before anyone sees it."""
    samples = [
        TelemetrySample("r1", T0 + timedelta(seconds=i), p, i, 0.5, DeviceMode.FOLLOWING)
        for i, p in enumerate([0.5, math.nan, math.inf, -0.25])
    ]
    events = GatewayEvents(telemetry=samples)
    keep, result = screen(telemetry_points(events), {"r1": resource()})
    assert [p.power_mw for p in keep] == [0.5, -0.25]
    assert result.rejected == {"not_finite": 2}
