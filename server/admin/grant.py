"""`ganggpt role USERNAME ROLE`: give an account a role from the command line, the way the
first administrator is made (the console cannot grant what nobody holds yet). Works on the
database directly, running server or not; written to the audit log as actor `cli`. The new
role is in the account's tokens from its next login or refresh."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from config import Config
from server.auth.names import NameRefused, normalize_username
from server.auth.permissions import RoleCatalogue
from server.persistence.ops import AppendAudit
from server.persistence.service import make_storage


class GrantError(RuntimeError):
    """The role could not be given; the message says why."""


async def set_role(config: Config, username: str, role: str) -> dict[str, Any]:
    roles = RoleCatalogue.default()
    if role not in roles:
        raise GrantError(f"unknown role {role!r}; roles: {', '.join(roles.names())}")
    try:
        name = normalize_username(username)
    except NameRefused as err:
        raise GrantError(f"not a username: {err}") from None
    storage = make_storage(config)
    await storage.open()
    try:
        await storage.migrate()
        account = await storage.auth_account_by_username(name)
        if account is None:
            raise GrantError(f"no account {name!r}")
        await storage.auth_update_account(account.id, role=role)
        await storage.apply(
            AppendAudit(
                str(uuid.uuid4()),
                "cli",
                "roles.set",
                account.id,
                {"args": {"username": name, "role": role}, "previous": account.role},
                "ok",
                time.time(),
            )
        )
        return {"account": account.id, "username": name, "role": role, "previous": account.role}
    finally:
        await storage.close()


def run_set_role(config: Config, username: str, role: str) -> dict[str, Any]:
    return asyncio.run(set_role(config, username, role))
