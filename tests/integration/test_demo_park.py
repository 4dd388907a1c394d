"""The demo's industrial park: seeded through the real paths, consistent, aggregatable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from openvpp.aggregation.engine import horizon
from openvpp.identity.model import Principal, Role
from openvpp.resources.service import ResourceFilter
from openvpp.runtime import Runtime
from openvpp.seed import seed_demo
from openvpp.vpp.service import aggregate


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_park_is_seeded_with_telemetry_and_aggregates(runtime: Runtime) -> None:
    org = seed_demo(runtime, park=True).organization_id
    admin = Principal("user", "t", org, frozenset({Role.ADMIN}), "t")
    resources = runtime.resources.list(runtime.uow(readonly=True), admin, ResourceFilter(), 100, 0)
    assert len(resources) == 7
    assert {r.status.value for r in resources} == {"online"}  # the last reading is now
    vpps = runtime.vpps.list_vpps(runtime.uow(readonly=True), admin, 10, 0)
    assert sorted(v.name for v in vpps) == ["Park Energy", "Park Flex"]
    assert runtime.vpps.conflicts(runtime.uow(readonly=True), admin) == []
    pv = next(r for r in resources if r.resource_type.value == "pv")
    points = runtime.telemetry.query(runtime.uow(readonly=True), admin, pv.id, None, None, 1000)
    assert len(points) == 144  # three days, half-hourly
    assert max(p.power_mw for p in points) > 1.0  # real June sun on 2 MWp
    assert min(p.power_mw for p in points) == 0.0  # and real nights
    now = runtime.clock.now()
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    index = horizon(start, start + timedelta(days=1), 15)
    energy = next(v for v in vpps if v.name == "Park Energy")
    agg = aggregate(
        runtime.uow(readonly=True), admin, energy.id, index, tz="America/Denver", now=now
    )
    assert agg.resources == {"online": 3}
    assert agg.total.p_max_mw.max() > 1.2  # 60 % of battery A alone gives 1.2 MW
    assert (agg.total.p_min_mw < 0).all()  # the battery can always charge
    series = runtime.market_data.catalog(runtime.uow(readonly=True), org, "US-ISO-DA")
    price = next(s for s in series if s.key.series == "price")
    assert (price.key.area, price.unit, price.values) == ("PJM", "USD/MWh", 336)
    (connection,) = runtime.connections.all(runtime.uow(readonly=True), admin)
    assert connection.kind == "simulated"
    assert runtime.connections.check(runtime.uow(), org, connection.id).status == "up"
    models = runtime.models.list(runtime.uow(readonly=True), org, None, 10, 0)
    assert len(models) == 3 and all(m.latest_version == 1 for m in models)
    for model in models:
        _, (version,) = runtime.models.get(runtime.uow(readonly=True), org, model.id)
        assert version.status.value == "ready" and version.metrics["holdout"]["intervals"] > 0
        known = runtime.predictions.known_at(
            runtime.uow(readonly=True), org, model.id, version.train_end,
            version.train_end + timedelta(days=1),
        )  # fmt: skip
        assert len(known) == 24  # the last day of the data, stored at seed time
        perf = runtime.predictions.performance(runtime.uow(readonly=True), org, model.id)
        assert perf["versions"][0]["live"]["intervals"] == 24
    assert seed_demo(runtime, park=True).created is False  # idempotent
