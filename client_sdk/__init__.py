"""GangGPT Python client SDK: connect, see the world, move, talk -- and survive drops.

    from client_sdk import connect

    async with connect("ws://127.0.0.1:22005/ws", name="bot") as client:
        client.move(0.0, 0.0, 30.0, 0.0)
        ev = await client.wait_for(lambda ev: isinstance(ev, EntityEntered))

The protocol bookkeeping (mirror of visible entities, event types) is the sans-I/O
`protocol.mirror`; this package adds the asyncio connection. The load tools
(`ganggpt-loadtest`, the benchmarks) are in `client_sdk.tools`, with their own extra.
"""

from __future__ import annotations

from client_sdk.client import (
    Client,
    ClientClosedError,
    ClientError,
    ClientEvent,
    Closed,
    Disconnected,
    FatalCloseError,
    HandshakeError,
    MissionRefusedError,
    Reconnected,
    ReconnectFailedError,
    connect,
)
from client_sdk.missions import (
    MissionAccepted,
    MissionCompleted,
    MissionEvent,
    MissionExpired,
    MissionFailed,
    MissionInfo,
    MissionOffered,
    MissionProgressed,
    MissionsListed,
    MoneyChanged,
    Objective,
    Relation,
)
from protocol.mirror import (
    ChatReceived,
    CloseAction,
    Corrected,
    CustomReceived,
    Entity,
    EntityEntered,
    EntityLeft,
    EntityUpdated,
    ErrorReceived,
    Event,
    GameEventReceived,
    InvalidMessage,
    Mirror,
    Npc,
    NpcSaid,
    NpcSaidPart,
    Player,
    PongReceived,
    ReconnectRequested,
    Snapshot,
    StateReceived,
    Welcomed,
    close_action,
    close_code_name,
)

__all__ = [
    "ChatReceived",
    "Client",
    "ClientClosedError",
    "ClientError",
    "ClientEvent",
    "CloseAction",
    "Closed",
    "Corrected",
    "CustomReceived",
    "Disconnected",
    "Entity",
    "EntityEntered",
    "EntityLeft",
    "EntityUpdated",
    "ErrorReceived",
    "Event",
    "FatalCloseError",
    "GameEventReceived",
    "HandshakeError",
    "InvalidMessage",
    "Mirror",
    "MissionAccepted",
    "MissionCompleted",
    "MissionEvent",
    "MissionExpired",
    "MissionFailed",
    "MissionInfo",
    "MissionOffered",
    "MissionProgressed",
    "MissionRefusedError",
    "MissionsListed",
    "MoneyChanged",
    "Npc",
    "NpcSaid",
    "NpcSaidPart",
    "Objective",
    "Player",
    "PongReceived",
    "ReconnectFailedError",
    "ReconnectRequested",
    "Reconnected",
    "Relation",
    "Snapshot",
    "StateReceived",
    "Welcomed",
    "close_action",
    "close_code_name",
    "connect",
]
