"""A separate process that settles a VPP over several days, for the parent to SIGKILL at a
random moment (``test_settlement_crash``). Argument: a JSON object with ``database_url``,
``var_dir``, ``organization_id``, ``vpp_id``, ``first_day`` and ``last_day``. Prints
``ready`` before the first day and ``settled <day>`` after each (one calculation per day, so
the parent can kill it within a day's transaction)."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta

from openvpp.audit.chain import AuditContext
from openvpp.runtime import build_runtime
from openvpp.settlement.service import CalculateRequest
from tests.support import make_settings


def main() -> None:
    a = json.loads(sys.argv[1])
    rt = build_runtime(make_settings(a["database_url"], a["var_dir"]))
    first, last = date.fromisoformat(a["first_day"]), date.fromisoformat(a["last_day"])
    context = AuditContext(
        actor_type="system", actor_id="crash-child", organization_id=a["organization_id"]
    )
    print("ready", flush=True)
    for k in range((last - first).days + 1):
        day = first + timedelta(days=k)
        req = CalculateRequest(vpp_id=a["vpp_id"], market="EU-SDAC", first_day=day, last_day=day)
        rt.settlement.calculate(rt.uow(context), a["organization_id"], req)
        print(f"settled {day}", flush=True)


if __name__ == "__main__":
    main()
