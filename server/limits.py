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
MOVE_SLACK_M = 2.0  # metres the movement budgets hold on top of MOVE_BURST_SECONDS' worth


def move_burst(config: Config) -> float:
    """Metres the movement budget holds: what a client that stalled may catch up at once."""
    return config.player_max_speed * config.move_burst_seconds + MOVE_SLACK_M


def climb_speed(config: Config) -> float:
    return min(config.player_max_climb_speed, config.player_max_speed)


def climb_burst(config: Config) -> float:
    """Metres of rise the climb budget holds (the same seconds' worth as `move_burst`)."""
    return climb_speed(config) * config.move_burst_seconds + MOVE_SLACK_M


def world_floor(config: Config) -> float:
    return config.world_min_z if config.world_floor_z is None else config.world_floor_z


def welcome_limits(config: Config) -> dict[str, Any]:
    """Every limit the server enforces on a client, by the name SPEC.md §4.3 gives it."""
    return {
        "player_max_speed": config.player_max_speed,
        "move_slack": MOVE_SLACK_M,
        "move_burst": move_burst(config),
        "player_max_climb_speed": climb_speed(config),
        "climb_burst": climb_burst(config),
        "world_floor_z": world_floor(config),
        "violation_kick_score": config.anticheat_kick_score,
        "violation_half_life": config.anticheat_half_life,
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
