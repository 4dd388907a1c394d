"""A separate order-manager process that SIGKILLs itself at a named point of a submission
(used by ``test_trading_venue_faults``). Argument: a JSON object with ``database_url``,
``var_dir``, ``organization_id``, ``vpp_id``, ``client_order_id``, ``delivery_start`` and
``point``. With ``burst`` (a count) instead of ``point`` it submits that many orders
(``client_order_id`` a prefix, see :func:`burst_commands`) in group-committed batches of five,
after printing ``ready`` (and ``store <pid>`` with a store process), for the parent to kill
at a random moment. ``order_store``: ``inline`` (default) or ``process``."""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime
from decimal import Decimal

from openvpp.runtime import build_runtime
from openvpp.runtime_order_store import ProcessStore
from openvpp.trading.orders import Order
from openvpp.trading.records import SubmitOrder
from tests.integration.trading_support import MARKET, PRODUCT, trader
from tests.support import make_settings


def main() -> None:
    a = json.loads(sys.argv[1])
    rt = build_runtime(
        make_settings(
            a["database_url"],
            a["var_dir"],
            connector_allowed_hosts=["127.0.0.1"],
            connector_allow_local=True,
            order_store=a.get("order_store", "inline"),
        )
    )

    def die(at: str, order: Order) -> None:
        if at == a["point"]:
            os.kill(os.getpid(), signal.SIGKILL)

    if "burst" in a:
        cmds = burst_commands(
            a["client_order_id"],
            a["vpp_id"],
            datetime.fromisoformat(a["delivery_start"]),
            a["burst"],
        )
        principal = trader(a["organization_id"])
        rt.trading.submissions.start()  # a store process ready before the first batch
        print("ready", flush=True)
        store = getattr(rt.trading.submissions, "_store", None)
        if isinstance(store, ProcessStore):
            print(f"store {store.pid}", flush=True)
        for i in range(0, len(cmds), 5):
            rt.trading.submissions.submit_many(rt.uow(), principal, cmds[i : i + 5])
        print("done", flush=True)
        return
    rt.trading.orders.fault = die
    principal = trader(a["organization_id"])
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


def burst_commands(prefix: str, vpp_id: str, start: datetime, n: int) -> list[SubmitOrder]:
    """``n`` orders ``{prefix}-{i}``: sells at 50 + i, buys at 10 (nothing crosses)."""
    return [
        SubmitOrder(
            f"{prefix}-{i}",
            vpp_id,
            MARKET,
            PRODUCT,
            start,
            "sell" if i % 2 == 0 else "buy",
            Decimal(50 + i) if i % 2 == 0 else Decimal(10),
            Decimal("0.5"),
        )
        for i in range(n)
    ]


if __name__ == "__main__":
    main()
