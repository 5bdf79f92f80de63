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
    Reconnected,
    ReconnectFailedError,
    connect,
)
from client_sdk.social import (
    CompanionInfo,
    CompanionSummary,
    CompanionUpdate,
    FactionInfo,
    FactionMember,
    FactionNews,
    FactionRelation,
    FactionUpdate,
    MemberInfo,
    RelationInfo,
    RequestRefusedError,
    SocialEvent,
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
    "CompanionInfo",
    "CompanionSummary",
    "CompanionUpdate",
    "Corrected",
    "CustomReceived",
    "Disconnected",
    "Entity",
    "EntityEntered",
    "EntityLeft",
    "EntityUpdated",
    "ErrorReceived",
    "Event",
    "FactionInfo",
    "FactionMember",
    "FactionNews",
    "FactionRelation",
    "FactionUpdate",
    "FatalCloseError",
    "GameEventReceived",
    "HandshakeError",
    "InvalidMessage",
    "MemberInfo",
    "Mirror",
    "Npc",
    "NpcSaid",
    "NpcSaidPart",
    "Player",
    "PongReceived",
    "ReconnectFailedError",
    "ReconnectRequested",
    "Reconnected",
    "RelationInfo",
    "RequestRefusedError",
    "Snapshot",
    "SocialEvent",
    "StateReceived",
    "Welcomed",
    "close_action",
    "close_code_name",
    "connect",
]
