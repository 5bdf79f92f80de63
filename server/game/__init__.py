"""The game layer: players, the rules of play, events, and the API game modes build on.

The transport (`server/net/`) hands this package decoded messages and calls back through the
narrow `Client` interface; nothing here touches a socket. See `core.Game` for the entry points.
"""
