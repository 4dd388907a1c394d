"""The access policy: for every route and method, who may call it. One table, checked by
``authorize`` on each request and by a test that fails when a route is missing here."""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from openvpp.identity.model import Role


class _Public:
    """Marker: no authentication."""

    def __repr__(self) -> str:
        return "PUBLIC"


PUBLIC: Final = _Public()
Access = frozenset[Role] | _Public

ADMIN = frozenset({Role.ADMIN})
ANY_ROLE = frozenset(Role)
OPS_WRITE = frozenset({Role.ADMIN, Role.OPERATOR})
OPS_READ = frozenset({Role.ADMIN, Role.OPERATOR, Role.ANALYST})
JOBS_READ = frozenset({Role.ADMIN, Role.OPERATOR, Role.TRADER, Role.ANALYST})
ALERT_ACK = frozenset({Role.ADMIN, Role.OPERATOR, Role.TRADER})
MARKET_WRITE = frozenset({Role.ADMIN, Role.OPERATOR, Role.TRADER})
CONNECTIONS_READ = frozenset({Role.ADMIN, Role.OPERATOR, Role.TRADER})
AI_WRITE = frozenset({Role.ADMIN, Role.OPERATOR, Role.TRADER, Role.ANALYST})
TRADING_WRITE = frozenset({Role.ADMIN, Role.OPERATOR, Role.TRADER})
RISK_WRITE = frozenset({Role.ADMIN, Role.OPERATOR})
SETTLEMENT_WRITE = frozenset({Role.ADMIN, Role.OPERATOR, Role.TRADER})

API_PREFIX = "/api/vpp"
P = API_PREFIX

POLICY: Final[dict[tuple[str, str], Access]] = {
    # platform
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    # authentication
    ("POST", f"{P}/auth/login"): PUBLIC,
    ("POST", f"{P}/auth/refresh"): PUBLIC,
    ("POST", f"{P}/auth/logout"): ANY_ROLE,
    ("GET", f"{P}/auth/me"): ANY_ROLE,
    ("POST", f"{P}/auth/password"): ANY_ROLE,
    # organization, users, roles, API keys
    ("GET", f"{P}/organization"): ANY_ROLE,
    ("GET", f"{P}/roles"): ANY_ROLE,
    ("GET", f"{P}/users"): ADMIN,
    ("POST", f"{P}/users"): ADMIN,
    ("GET", f"{P}/users/{{user_id}}"): ADMIN,
    ("PATCH", f"{P}/users/{{user_id}}"): ADMIN,
    ("GET", f"{P}/api-keys"): ADMIN,
    ("POST", f"{P}/api-keys"): ADMIN,
    ("DELETE", f"{P}/api-keys/{{key_id}}"): ADMIN,
    # audit trail
    ("GET", f"{P}/audit"): ADMIN,
    ("GET", f"{P}/audit/verify"): ADMIN,
    # operations records
    ("GET", f"{P}/alerts"): ANY_ROLE,
    ("POST", f"{P}/alerts"): OPS_WRITE,
    ("GET", f"{P}/alerts/{{alert_id}}"): ANY_ROLE,
    ("POST", f"{P}/alerts/{{alert_id}}/acknowledge"): ALERT_ACK,
    ("POST", f"{P}/alerts/{{alert_id}}/resolve"): OPS_WRITE,
    ("GET", f"{P}/operation-logs"): OPS_READ,
    ("POST", f"{P}/operation-logs"): OPS_WRITE,
    ("GET", f"{P}/performance-metrics"): OPS_READ,
    ("POST", f"{P}/performance-metrics"): OPS_WRITE,
    # resources and templates
    ("GET", f"{P}/templates"): ANY_ROLE,
    ("GET", f"{P}/templates/{{resource_type}}/{{version}}"): ANY_ROLE,
    ("GET", f"{P}/device-templates"): ANY_ROLE,
    ("POST", f"{P}/device-templates"): OPS_WRITE,
    ("GET", f"{P}/device-templates/export"): ANY_ROLE,
    ("POST", f"{P}/device-templates/import"): OPS_WRITE,
    ("GET", f"{P}/device-templates/{{key}}/{{version}}"): ANY_ROLE,
    ("GET", f"{P}/resources"): ANY_ROLE,
    ("POST", f"{P}/resources"): OPS_WRITE,
    ("GET", f"{P}/resources/{{resource_id}}"): ANY_ROLE,
    ("PATCH", f"{P}/resources/{{resource_id}}"): OPS_WRITE,
    ("DELETE", f"{P}/resources/{{resource_id}}"): OPS_WRITE,
    ("POST", f"{P}/resources/{{resource_id}}/upgrade"): OPS_WRITE,
    ("GET", f"{P}/resources/{{resource_id}}/status"): ANY_ROLE,
    # VPP definitions, grid nodes, conflicts, aggregation
    ("GET", f"{P}/vpps"): ANY_ROLE,
    ("POST", f"{P}/vpps"): OPS_WRITE,
    ("GET", f"{P}/vpps/{{vpp_id}}"): ANY_ROLE,
    ("PATCH", f"{P}/vpps/{{vpp_id}}"): OPS_WRITE,
    ("DELETE", f"{P}/vpps/{{vpp_id}}"): OPS_WRITE,
    ("GET", f"{P}/vpps/{{vpp_id}}/members"): ANY_ROLE,
    ("POST", f"{P}/vpps/{{vpp_id}}/members"): OPS_WRITE,
    ("PATCH", f"{P}/vpps/{{vpp_id}}/members/{{member_id}}"): OPS_WRITE,
    ("DELETE", f"{P}/vpps/{{vpp_id}}/members/{{member_id}}"): OPS_WRITE,
    ("GET", f"{P}/vpps/{{vpp_id}}/parameters"): ANY_ROLE,
    ("POST", f"{P}/vpps/{{vpp_id}}/parameters"): OPS_WRITE,
    ("GET", f"{P}/vpps/{{vpp_id}}/conflicts"): ANY_ROLE,
    ("GET", f"{P}/conflicts"): ANY_ROLE,
    ("GET", f"{P}/grid-nodes"): ANY_ROLE,
    ("POST", f"{P}/grid-nodes"): OPS_WRITE,
    ("DELETE", f"{P}/grid-nodes/{{code}}"): OPS_WRITE,
    ("POST", f"{P}/resources/aggregate"): ANY_ROLE,
    ("POST", f"{P}/telemetry"): OPS_WRITE,
    ("GET", f"{P}/resources/{{resource_id}}/telemetry"): ANY_ROLE,
    # jobs
    ("GET", f"{P}/jobs"): JOBS_READ,
    ("POST", f"{P}/jobs"): JOBS_READ,
    ("GET", f"{P}/jobs/kinds"): JOBS_READ,
    ("GET", f"{P}/jobs/{{job_id}}"): JOBS_READ,
    ("POST", f"{P}/jobs/{{job_id}}/cancel"): JOBS_READ,
    ("POST", f"{P}/jobs/{{job_id}}/retry"): JOBS_READ,
    # market rules and calendars
    ("GET", f"{P}/markets"): ANY_ROLE,
    ("GET", f"{P}/markets/{{code}}"): ANY_ROLE,
    ("GET", f"{P}/markets/{{code}}/calendar"): ANY_ROLE,
    ("GET", f"{P}/markets/{{code}}/gate"): ANY_ROLE,
    # market data
    ("GET", f"{P}/market/data"): ANY_ROLE,
    ("GET", f"{P}/market/data/series"): ANY_ROLE,
    ("GET", f"{P}/market/data/imports"): ANY_ROLE,
    ("GET", f"{P}/market/conditions"): ANY_ROLE,
    ("POST", f"{P}/market/data/import"): MARKET_WRITE,
    ("POST", f"{P}/market/sync"): MARKET_WRITE,
    # venue connections
    ("GET", f"{P}/market/connector-kinds"): CONNECTIONS_READ,
    ("GET", f"{P}/market/connections"): CONNECTIONS_READ,
    ("POST", f"{P}/market/connections"): ADMIN,
    ("GET", f"{P}/market/connections/{{connection_id}}"): CONNECTIONS_READ,
    ("PATCH", f"{P}/market/connections/{{connection_id}}"): ADMIN,
    ("DELETE", f"{P}/market/connections/{{connection_id}}"): ADMIN,
    ("POST", f"{P}/market/connections/{{connection_id}}/check"): CONNECTIONS_READ,
    ("GET", f"{P}/market/connections/{{connection_id}}/checks"): CONNECTIONS_READ,
    # model registry and predictions
    ("GET", f"{P}/ai/algorithms"): ANY_ROLE,
    ("GET", f"{P}/ai/models"): ANY_ROLE,
    ("POST", f"{P}/ai/models"): AI_WRITE,
    ("GET", f"{P}/ai/models/{{model_id}}"): ANY_ROLE,
    ("PATCH", f"{P}/ai/models/{{model_id}}"): AI_WRITE,
    ("PUT", f"{P}/ai/models/{{model_id}}"): AI_WRITE,
    ("DELETE", f"{P}/ai/models/{{model_id}}"): AI_WRITE,
    ("POST", f"{P}/ai/models/{{model_id}}/train"): AI_WRITE,
    ("POST", f"{P}/ai/models/{{model_id}}/evaluate"): AI_WRITE,
    ("GET", f"{P}/ai/models/{{model_id}}/performance"): ANY_ROLE,
    ("GET", f"{P}/ai/models/{{model_id}}/predictions"): ANY_ROLE,
    ("POST", f"{P}/ai/predict"): AI_WRITE,
    ("GET", f"{P}/ai/predictions/{{run_id}}"): ANY_ROLE,
    ("POST", f"{P}/ai/risk/assess"): ANY_ROLE,
    # dispatch and monitoring
    ("GET", f"{P}/dispatch/instructions"): ANY_ROLE,
    ("POST", f"{P}/dispatch/run"): TRADING_WRITE,
    ("GET", f"{P}/monitoring"): ANY_ROLE,
    ("GET", f"{P}/monitoring/live"): ANY_ROLE,
    # trading: orders, executions, limits, kill switch
    ("GET", f"{P}/trading/sessions"): ANY_ROLE,
    ("POST", f"{P}/trading/orders"): TRADING_WRITE,
    ("GET", f"{P}/trading/orders"): ANY_ROLE,
    ("GET", f"{P}/trading/orders/{{order_id}}"): ANY_ROLE,
    ("PUT", f"{P}/trading/orders/{{order_id}}"): TRADING_WRITE,
    ("POST", f"{P}/trading/execute"): TRADING_WRITE,
    ("GET", f"{P}/trading/executions"): ANY_ROLE,
    ("GET", f"{P}/trading/limits"): ANY_ROLE,
    ("PUT", f"{P}/trading/limits"): RISK_WRITE,
    ("GET", f"{P}/trading/state"): ANY_ROLE,
    # traders may only tighten the mode (reducing, halted); lifting it takes admin or operator
    ("PUT", f"{P}/trading/state"): TRADING_WRITE,
    # automatic bidding: settings and decisions
    ("GET", f"{P}/trading/auto"): ANY_ROLE,
    ("PUT", f"{P}/trading/auto"): TRADING_WRITE,
    ("GET", f"{P}/trading/decisions"): ANY_ROLE,
    ("GET", f"{P}/trading/decisions/{{decision_id}}"): ANY_ROLE,
    ("POST", f"{P}/trading/decisions"): TRADING_WRITE,
    # settlement: runs, interval rows, ledger
    ("POST", f"{P}/settlement/calculate"): SETTLEMENT_WRITE,
    ("GET", f"{P}/settlement/records"): ANY_ROLE,
    ("GET", f"{P}/settlement/records/{{run_id}}"): ANY_ROLE,
    ("GET", f"{P}/settlement/records/{{run_id}}/contribution"): ANY_ROLE,
    ("GET", f"{P}/settlement/ledger/balances"): ANY_ROLE,
    # analysis of settled runs
    ("GET", f"{P}/analysis/revenue"): ANY_ROLE,
    ("GET", f"{P}/analysis/performance"): ANY_ROLE,
    ("GET", f"{P}/reports/generate"): ANY_ROLE,
    ("GET", f"{P}/strategies"): ANY_ROLE,
    ("GET", f"{P}/strategies/{{strategy_id}}/performance"): ANY_ROLE,
}


def access_for(method: str, path_template: str) -> Access | None:
    """The declared access, or ``None`` when the route is missing (callers fail closed)."""
    return POLICY.get((method.upper(), path_template))


@cache
def _template_patterns() -> list[tuple[re.Pattern[str], str, int]]:
    return [
        (
            re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"),
            method,
            path.count("{"),
        )
        for method, path in POLICY
    ]


def methods_for(path: str) -> list[str]:
    """The methods served at a concrete ``path`` (for the ``Allow`` header of a 405). A path
    that a literal template names (``/resources/aggregate``) is that resource, not an
    instance of a parameterized one (``/resources/{resource_id}``): the most specific
    templates win."""
    found = [(params, m) for pattern, m, params in _template_patterns() if pattern.match(path)]
    fewest = min((params for params, _ in found), default=0)
    return sorted({m for params, m in found if params == fewest})
