"""Every limit and default the server has, in one typed object.

Why one object: the tick loop, the network layer, persistence and the tools all read the same
numbers, and an operator must be able to see (and `config/.env.example` must document) every
knob in one place. Values come from environment variables (optionally a `.env` file); a bad
value stops the process at start with the variable's name and what is allowed, rather than
surfacing later as odd behaviour mid-game.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """Raised at start when an environment variable holds a value that is not allowed."""


class Config(BaseSettings):
    """Server configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=os.environ.get("GANGGPT_ENV_FILE", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    # --- server (seed) ---
    server_host: str = Field("0.0.0.0", description="Address to listen on.")
    server_port: int = Field(
        22005, ge=0, le=65535, description="TCP port for WebSocket, /health, /metrics."
    )
    server_name: str = Field(
        "GangGPT Server",
        min_length=1,
        max_length=64,
        description="Shown to clients in welcome and in logs.",
    )
    max_players: int = Field(128, ge=1, le=60000, description="Connected players allowed at once.")
    tickrate: int = Field(60, ge=1, le=240, description="Simulation ticks per second.")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="Least severe log level written."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people, json for log collectors."
    )

    # --- realtime ---
    send_rate: int = Field(
        30, ge=1, le=240, description="State patches per second sent to each client."
    )
    world_min_x: float = Field(
        -4000.0,
        description="World bounds in metres; positions are quantised over them (65535 steps per axis).",
    )
    world_min_y: float = -4000.0
    world_max_x: float = 4000.0
    world_max_y: float = 4000.0
    world_min_z: float = -200.0
    world_max_z: float = 1800.0
    spawn_area_size: float = Field(
        2000.0, gt=0, description="Side of the square at the world centre where entities spawn."
    )
    aoi_radius: float = Field(300.0, gt=0, description="Interest radius in metres.")
    aoi_cell_size: float = Field(50.0, gt=0, description="Spatial grid cell size in metres.")
    aoi_near_distance: float = Field(
        75.0, ge=0, description="Cells this close are updated every patch."
    )
    aoi_mid_distance: float = Field(
        200.0, ge=0, description="Cells this close are updated every AOI_MID_EVERY patches."
    )
    aoi_mid_every: int = Field(
        4, ge=1, le=60, description="Mid-tier cells get MOVE records every this many patches."
    )
    aoi_far_every: int = Field(
        8, ge=1, le=60, description="Far-tier cells get MOVE records every this many patches."
    )
    npc_count: int = Field(200, ge=0, le=60000, description="NPCs walking the world.")
    npc_speed: float = Field(2.0, gt=0, le=25.0, description="NPC walking speed, m/s.")
    npc_seed: int = Field(1, description="Seed for NPC spawn points and waypoints.")
    player_max_speed: float = Field(
        60.0, gt=0, description="Fastest legal move, m/s; faster inputs are rejected."
    )
    max_message_size: int = Field(
        4096, ge=64, le=1 << 20, description="Largest client message, bytes."
    )
    input_rate_limit: int = Field(
        120, ge=1, description="Client messages per second, all kinds, before RATE_LIMITED errors."
    )
    flood_close_after: int = Field(
        3, ge=1, description="Seconds over the rate limit before the client is closed."
    )
    send_buffer_high: int = Field(
        64 * 1024, ge=1024, description="Bytes queued to a client before its patches are coalesced."
    )
    idle_patch_interval: float = Field(
        1.0,
        ge=0,
        description="A patch with nothing in it is not sent, except at least this often (seconds) as a heartbeat; 0 = send every patch.",
    )
    socket_send_buffer: int = Field(
        0, ge=0, description="SO_SNDBUF per client socket in bytes; 0 = OS default."
    )
    slow_client_timeout: float = Field(
        10.0, gt=0, description="Seconds a client may stay behind before it is closed."
    )
    handshake_timeout: float = Field(5.0, gt=0)
    ping_interval: float = Field(20.0, gt=0)
    ping_timeout: float = Field(20.0, gt=0)
    resume_window: float = Field(
        60.0, ge=0, description="Seconds a dropped player is kept for resume."
    )
    drain_timeout: float = Field(
        5.0, ge=0, description="Seconds SIGTERM waits for clients to leave."
    )
    stats_interval: float = Field(
        0.0, ge=0, description="Seconds between stats log lines; 0 = off."
    )

    # --- persistence (seed) ---
    persistence: Literal["on", "off"] = Field(
        "on",
        description="off keeps players in memory only (nothing survives a restart): for benchmarks.",
    )
    database_url: str | None = Field(None, description="postgresql://...; unset = embedded SQLite.")
    database_read_url: str | None = Field(
        None, description="Optional read replica; reads go there."
    )
    database_pool_size: int = Field(20, ge=1, le=1000)
    database_timeout: int = Field(30000, ge=1, description="Milliseconds.")
    sqlite_path: str = Field(
        "data/ganggpt.db", description="Embedded database file, used when DATABASE_URL is unset."
    )
    snapshot_interval: float = Field(1.0, gt=0)
    persist_queue_size: int = Field(10000, ge=1)
    journal_path: str = Field(
        "data/journal",
        description="Append-only journal for writes made while the database is down.",
    )
    persist_spill_after: float = Field(
        5.0,
        gt=0,
        description="Seconds snapshots may wait in memory during a database outage before they"
        " are written to the journal (bounds the data lost by a crash during an outage).",
    )
    persist_retry_max: float = Field(
        5.0, gt=0, description="Longest wait, seconds, between database reconnect attempts."
    )
    npc_memory_partitions_ahead: int = Field(
        2, ge=0, le=24, description="Monthly npc_memories partitions created ahead (PostgreSQL)."
    )

    # --- cache (seed) ---
    redis_url: str | None = Field(
        None, description="redis:// or rediss://; unset = in-process cache."
    )
    redis_password: str | None = Field(
        None, description="Password for REDIS_URL, if not in the URL."
    )
    redis_ttl: int = Field(3600, ge=1)
    redis_prefix: str = Field("ganggpt:", description="Prefix of every Redis key.")
    redis_timeout: float = Field(
        0.5, gt=0, description="Seconds a Redis call may take before the cache counts as down."
    )
    cache_l1_size: int = Field(10000, ge=0, description="Entries in the in-process L1 cache.")
    cache_l1_ttl: float = Field(30.0, gt=0, description="Seconds an L1 cache entry lives.")

    # --- AI (seed; used by the AI gameplay features) ---
    ai_backend: Literal["offline", "openai", "azure", "local"] = Field(
        "offline", description="Language model behind NPC dialogue; offline needs no key."
    )
    azure_openai_endpoint: str | None = None
    azure_openai_key: str | None = None
    azure_openai_deployment: str | None = None
    openai_api_key: str | None = None
    openai_base_url: str | None = None

    # --- security (seed; used by accounts) ---
    jwt_secret: str | None = Field(None, description="HMAC secret for player tokens (accounts).")
    encryption_key: str | None = None
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed for browser clients."
    )

    # --- game modes (server/game) ---
    game_modules: str = Field(
        "",
        description="Comma-separated Python modules, each with setup(api), loaded at start.",
    )
    game_handler_budget_ms: float = Field(
        2.0, gt=0, le=1000, description="Game handler time over which a call is logged and counted."
    )

    # --- world commands and NPC identity (issue 8) ---
    npc_spawn_capacity: int = Field(
        256,
        ge=0,
        le=60000,
        description="NPCs world commands may spawn on top of NPC_COUNT and NPC_FILE (net ids are reserved for them).",
    )
    npc_file: str | None = Field(
        None,
        description="YAML or JSON file of hand-written NPCs (name, role, faction, personality, x, y, ...); unset = none.",
    )
    npc_command_queue_size: int = Field(
        10000, ge=1, description="World commands that may wait for the tick; more are rejected."
    )
    npc_commands_per_tick: int = Field(
        256, ge=1, description="Most world commands applied in one tick; the rest wait."
    )
    npc_follow_reaim_ticks: int = Field(
        15, ge=1, le=600, description="Ticks between re-aims of NPCs following an entity."
    )
    npc_follow_reaim_distance: float = Field(
        2.0,
        gt=0,
        description="Metres a followed entity must move before its followers are re-aimed (each re-aim is one PATH record).",
    )

    @model_validator(mode="after")
    def _check_relations(self) -> Config:
        problems: list[str] = []
        if self.world_max_x <= self.world_min_x:
            problems.append("WORLD_MAX_X: must be greater than WORLD_MIN_X")
        if self.world_max_y <= self.world_min_y:
            problems.append("WORLD_MAX_Y: must be greater than WORLD_MIN_Y")
        if self.world_max_z <= self.world_min_z:
            problems.append("WORLD_MAX_Z: must be greater than WORLD_MIN_Z")
        if self.send_rate > self.tickrate:
            problems.append(f"SEND_RATE: must be at most TICKRATE ({self.tickrate})")
        elif self.tickrate % self.send_rate:
            problems.append(f"SEND_RATE: must divide TICKRATE ({self.tickrate}) evenly")
        if self.aoi_mid_distance < self.aoi_near_distance:
            problems.append("AOI_MID_DISTANCE: must be at least AOI_NEAR_DISTANCE")
        if self.aoi_far_every % self.aoi_mid_every:
            problems.append("AOI_FAR_EVERY: must be a multiple of AOI_MID_EVERY")
        cells = math.ceil(self.aoi_radius / self.aoi_cell_size)
        if cells > 64:
            problems.append(
                "AOI_CELL_SIZE: too small for AOI_RADIUS (more than 64 cells across the radius)"
            )
        for mod in filter(None, (m.strip() for m in self.game_modules.split(","))):
            if not all(part.isidentifier() for part in mod.split(".")):
                problems.append(f"GAME_MODULES: {mod!r} is not a dotted module name")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def game_module_names(self) -> list[str]:
        return [m.strip() for m in self.game_modules.split(",") if m.strip()]

    @property
    def ticks_per_patch(self) -> int:
        return self.tickrate // self.send_rate

    def public_dict(self) -> dict[str, Any]:
        """The configuration with secrets masked, for logs and the admin console."""
        secret = {
            "redis_password",
            "azure_openai_key",
            "openai_api_key",
            "jwt_secret",
            "encryption_key",
        }
        out = self.model_dump()
        for key in secret:
            if out.get(key):
                out[key] = "***"
        return out


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) if e["loc"] else ""
        name = loc.upper() if loc else ""
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = f" (got {got!r})" if loc and not isinstance(got, dict) else ""
        lines.append(f"{name}: {msg}{shown}" if name else msg)
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_config(**overrides: Any) -> Config:
    """Build the config from the environment; `overrides` win (tests and tools use them)."""
    try:
        return Config(**overrides)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None
