"""The admin console client: `AdminSession` (log in, `/admin` socket, commands, pushes) and the
`ganggpt-admin` REPL built on it (`client_sdk.admin.repl`). Needs the `tools` extra for the REPL
(prompt_toolkit, rich); the session alone needs only the core dependencies."""

from __future__ import annotations

from client_sdk.admin.session import (
    AdminError,
    AdminSession,
    CommandFailed,
    LoginFailed,
    SessionEnded,
)

__all__ = ["AdminError", "AdminSession", "CommandFailed", "LoginFailed", "SessionEnded"]
