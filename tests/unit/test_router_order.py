"""The app's routers are listed busiest first (``api/app.py``), which is safe only if no path
of one router is also claimed by a route of another: then the order of the routers never
decides which route answers."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from starlette.routing import Match

from openvpp.api.app import ROUTERS


def test_no_router_claims_another_routers_paths() -> None:
    owned = [(i, r) for i, router in enumerate(ROUTERS) for r in router.routes]
    routes = [(i, r) for i, r in owned if isinstance(r, APIRoute)]
    assert len(routes) > 100
    clashes = []
    for i, route in routes:
        path = re.sub(r"\{[^}]+\}", "x1", route.path)
        for method in route.methods:
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            claimed = {j for j, other in routes if other.matches(scope)[0] is Match.FULL}
            if claimed != {i}:
                clashes.append((method, route.path, sorted(claimed)))
    assert clashes == []
