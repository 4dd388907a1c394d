"""The dispatch loop with ``OPENVPP_DISPATCH_GATEWAY=mqtt`` against the local Mosquitto: the
organization's MQTT gateway is built by the runtime, an award's setpoint reaches a device
agent, its acknowledgement and telemetry come back into the store. Skipped without a broker
(a failure with ``OPENVPP_REQUIRE_SERVICES=1``)."""

from __future__ import annotations

import asyncio
import time

import pytest

from openvpp.dispatch.device import DeviceController
from openvpp.dispatch.mqtt import (
    MqttGateway,
    MqttOptions,
    controller_client_id,
    device_client_id,
    discard_session,
)
from openvpp.dispatch.mqtt_codec import Topics
from openvpp.dispatch.mqtt_device import MqttDeviceAgent
from openvpp.runtime import Runtime
from openvpp.runtime_dispatch import dispatch_tick
from tests.integration.test_dispatch_loop import Q, award, instructions, make_site
from tests.integration.test_mqtt_gateway import MQTT_URL, require_broker
from tests.support import ShiftClock

pytestmark = pytest.mark.services


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"dispatch_gateway": "mqtt", "mqtt_url": MQTT_URL, "mqtt_heartbeat_s": 0.2}


def wait_for(check: object, what: str, seconds: float = 10.0) -> None:
    """Poll ``check`` (a callable) until true; fails naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_award_reaches_a_device_over_mqtt(runtime: Runtime, clock: ShiftClock) -> None:
    options: MqttOptions = require_broker()
    rt = runtime
    site = make_site(rt, clock)
    award(rt, site, site.start, "1.5")
    d = rt.dispatch
    gw = d.gateway(rt.uow(), site.org)
    assert gw is not None and isinstance(gw.gateway, MqttGateway) and gw.simulator is None
    assert site.x in gw.resource_ids
    agent = MqttDeviceAgent(
        options,
        site.org,
        DeviceController(site.x, p_min_mw=-1.5, p_max_mw=1.5, link_timeout_s=5.0),
        clock=rt.clock,
        cycle_s=0.05,
    )
    try:
        d.run(agent.start())
        assert d.run(gw.gateway.wait_connected(5))  # type: ignore[attr-defined]
        assert d.run(agent.wait_connected(5))
        report = dispatch_tick(rt)
        assert [b["vpp_id"] for b in report["dispatched"]] == [site.vpp]  # type: ignore[index]

        def x_accepted() -> bool:
            dispatch_tick(rt)
            return any(
                r.resource_id == site.x and r.status.value == "accepted"
                for r in instructions(rt, site)
            )

        wait_for(x_accepted, "the device's acknowledgement")
        x = next(r for r in instructions(rt, site) if r.resource_id == site.x)
        assert x.p_mw == pytest.approx(0.75) and x.valid_until > site.start + Q
        # the devices without an agent never answer: still "sent" while their window lasts
        assert {r.status.value for r in instructions(rt, site) if r.resource_id != site.x} == {
            "sent"
        }

        def telemetry_stored() -> bool:
            dispatch_tick(rt)
            with rt.uow(readonly=True) as uow:
                return bool(uow.telemetry.query(site.x, site.start - Q, None, 10))

        wait_for(telemetry_stored, "the device's telemetry in the store")
    finally:
        d.run(agent.aclose())
        d.close()
        topics = Topics(options.topic_prefix, site.org)

        async def forget() -> None:
            for client_id in (controller_client_id(topics), device_client_id(topics, site.x)):
                await discard_session(options, client_id)

        asyncio.run(forget())
