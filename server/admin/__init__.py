"""The admin console (issue 10 §6): commands an operator runs against a live server.

One registry (`registry.REGISTRY`: name -> permission, argument schema, handler) serves both
surfaces: the `/admin` WebSocket session (`session.py`, reached through server/net) and the
HTTP admin API (`http.py`, `POST /admin/api/<command>`). `service.AdminService` is the one
object both call: it checks the principal's permission, validates the arguments against the
command's schema, runs the handler and, for a command that changes anything, writes the audit
row (`repos.audit`) before the answer leaves. Command groups live one per module
(`players.py`, `npcs.py`, `world_cmds.py`, `server_cmds.py`); handlers change the game only
through the game layer and world commands, never the tick's internals.
"""
