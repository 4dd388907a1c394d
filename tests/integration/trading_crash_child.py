"""A separate order-manager process that SIGKILLs itself at a named point of a submission
(used by ``test_trading_venue_faults``). Argument: a JSON object with ``database_url``,
``var_dir``, ``organization_id``, ``vpp_id``, ``client_order_id``, ``delivery_start`` and
``point``."""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime
from decimal import Decimal

from openvpp.identity.model import Principal, Role
from openvpp.runtime import build_runtime
from openvpp.trading.orders import Order
from openvpp.trading.records import SubmitOrder
from tests.integration.trading_support import MARKET, PRODUCT
from tests.support import make_settings


def main() -> None:
    a = json.loads(sys.argv[1])
    rt = build_runtime(
        make_settings(
            a["database_url"],
            a["var_dir"],
            connector_allowed_hosts=["127.0.0.1"],
            connector_allow_local=True,
        )
    )

    def die(at: str, order: Order) -> None:
        if at == a["point"]:
            os.kill(os.getpid(), signal.SIGKILL)

    rt.trading.orders.fault = die
    principal = Principal(
        kind="user",
        id="trader",
        organization_id=a["organization_id"],
        roles=frozenset({Role.TRADER}),
        user_id="trader",
    )
    cmd = SubmitOrder(
        a["client_order_id"],
        a["vpp_id"],
        MARKET,
        PRODUCT,
        datetime.fromisoformat(a["delivery_start"]),
        "sell",
        Decimal(50),
        Decimal(2),
    )
    rt.trading.orders.submit(rt.uow(), principal, cmd)
    print("not killed")


if __name__ == "__main__":
    main()
