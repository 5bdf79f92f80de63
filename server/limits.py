"""The limits a client is told about in `welcome.limits`, and the fixed ones among them.

Why one function: SPEC.md §0 promises that every number a client needs is announced, and a
client written from SPEC alone (FiveM, RAGE:MP, a browser) cannot read our config. Whoever
builds the welcome calls `welcome_limits(config)`; the SPEC table and the protocol tests
check its keys, so a new limit cannot be enforced without being announced.
"""

from __future__ import annotations

from typing import Any

from config.settings import Config

ERROR_BUDGET = 20  # malformed messages tolerated per ERROR_WINDOW seconds
ERROR_WINDOW = 10.0
MOVE_SLACK_M = 2.0  # metres of free movement on top of the speed budget


def welcome_limits(config: Config) -> dict[str, Any]:
    """Every limit the server enforces on a client, by the name SPEC.md §4.3 gives it."""
    return {
        "player_max_speed": config.player_max_speed,
        "move_slack": MOVE_SLACK_M,
        "idle_patch_interval": config.idle_patch_interval,
        "ping_interval": config.ping_interval,
        "ping_timeout": config.ping_timeout,
        "handshake_timeout": config.handshake_timeout,
        "flood_close_after": config.flood_close_after,
        "error_budget": ERROR_BUDGET,
        "error_window": ERROR_WINDOW,
        "slow_client_timeout": config.slow_client_timeout,
        "send_queue_max": config.client_send_queue_max,
        "chat_rate_limit": config.chat_rate_limit,
        "chat_rate_window": config.chat_rate_window,
        "aoi_near_distance": config.aoi_near_distance,
        "aoi_mid_distance": config.aoi_mid_distance,
        "aoi_mid_every": config.aoi_mid_every,
        "aoi_far_every": config.aoi_far_every,
    }
