"""What every command module shares: the consoles, the runtime of one command, failing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from openvpp.audit.chain import AuditContext
from openvpp.config import load_settings
from openvpp.core.errors import DomainError
from openvpp.runtime import Runtime, build_runtime

out = Console()
err = Console(stderr=True)
CLI_CONTEXT = AuditContext(actor_type="system", actor_id="cli")


@contextmanager
def runtime() -> Iterator[Runtime]:
    """The runtime for one command: a domain error becomes a message and exit code 1."""
    rt = build_runtime(load_settings())
    try:
        yield rt
    except DomainError as exc:
        raise fail(exc.message) from exc
    finally:
        rt.close()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def find_organization(rt: Runtime, org: str) -> str:
    """The id of the organization with slug or id ``org``; exit code 1 naming it otherwise."""
    with rt.uow(readonly=True) as uow:
        organization = uow.organizations.get_by_slug(org) or uow.organizations.get(org)
    if organization is None:
        raise fail(f"no organization with slug or id {org!r}")
    return organization.id
