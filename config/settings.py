"""Every limit and default the server has, in one typed object.

Why one object: the tick loop, the network layer, persistence and the tools all read the same
numbers, and an operator must be able to see (and `config/.env.example` must document) every
knob in one place. Values come from environment variables (optionally a `.env` file); a bad
value stops the process at start with the variable's name and what is allowed, rather than
surfacing later as odd behaviour mid-game.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import math
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.secrets import mask_settings, mask_value, secret_values

# Net ids are 16-bit: 0 is never used, NPCs take 1..NPC_COUNT, players the ids after them.
NET_ID_LIMIT = 65535


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
    player_max_climb_speed: float = Field(
        25.0,
        gt=0,
        description="Fastest legal climb, m/s (rising only: falling is bounded by"
        " PLAYER_MAX_SPEED alone); at most PLAYER_MAX_SPEED takes effect.",
    )
    move_burst_seconds: float = Field(
        1.0,
        gt=0,
        le=10.0,
        description="Seconds of movement the movement budget holds: the longest stall of inputs"
        " tolerated, and all a speed cheat gains once before it is held to the limit.",
    )
    world_floor_z: float | None = Field(
        None,
        description="Lowest z a player may stand at, metres (under-map cheats), at most 0 (the"
        " spawn height); unset = WORLD_MIN_Z.",
    )
    anticheat_kick_score: float = Field(
        50.0,
        ge=0,
        description="Violation score (one point a rejected INPUT, halving every"
        " ANTICHEAT_HALF_LIFE seconds) at which a player is kicked with 4011; 0 = never.",
    )
    anticheat_half_life: float = Field(
        60.0, gt=0, description="Seconds for a player's violation score to halve."
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
    admin_rate_limit: int = Field(
        600,
        ge=1,
        description="Messages per second, all kinds, on an authenticated /admin console socket:"
        " its own budget instead of INPUT_RATE_LIMIT; over it, error 9 RATE_LIMITED and 4007"
        " after FLOOD_CLOSE_AFTER seconds, as for a game client.",
    )
    admin_command_rate: int = Field(
        20,
        ge=1,
        description="Admin commands per second per account, the /admin socket and the HTTP"
        " admin API together; over it, `rate_limited` (HTTP 429 with Retry-After).",
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
    journal_path: str | None = Field(
        None,
        description="Append-only journal for writes made while the database is down; one per"
        " database. Unset: SQLITE_PATH + '.journal', or data/journal-<id> for PostgreSQL.",
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

    # --- persistence: start, health, ownership (issue 12) ---
    database_start_timeout: float = Field(
        30.0,
        ge=0,
        description="Seconds the server keeps trying to reach the database at start before it"
        " exits with an error; after a good start an outage means 'degraded', not an exit.",
    )
    database_write_probe_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds without any write after which a tiny write checks that the"
        " database still takes writes (/health reports it down when it does not).",
    )
    database_write_stuck_after: float = Field(
        10.0,
        gt=0,
        description="Seconds one database write may take before /health reports the"
        " database as down (a stuck transaction or lock).",
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
    ai_provider: Literal["offline", "openai", "azure"] = Field(
        "offline",
        validation_alias=AliasChoices("ai_provider", "ai_backend"),
        description="Language model behind NPCs and missions: offline needs no key; openai also"
        " serves any OpenAI-compatible server via OPENAI_BASE_URL. AI_BACKEND is a deprecated alias"
        " (its old value local = openai).",
    )
    ai_model: str = Field(
        "gpt-4o-mini", min_length=1, description="Model name for AI_PROVIDER=openai."
    )
    ai_embedding_model: str = Field(
        "",
        description="Embedding model (openai) or deployment (azure) for memory relevance;"
        " empty = lexical relevance only.",
    )
    openai_api_key: str | None = Field(
        None, description="Required for AI_PROVIDER=openai unless OPENAI_BASE_URL is set."
    )
    openai_base_url: str | None = Field(
        None,
        description="OpenAI-compatible server (Ollama, vLLM, llama.cpp), e.g. http://127.0.0.1:11434/v1.",
    )
    azure_openai_endpoint: str | None = Field(
        None, description="https://<resource>.openai.azure.com; required for AI_PROVIDER=azure."
    )
    azure_openai_key: str | None = Field(None, description="Required for AI_PROVIDER=azure.")
    azure_openai_deployment: str | None = Field(
        None, description="Chat deployment name; required for AI_PROVIDER=azure."
    )
    azure_openai_api_version: str = Field("2024-10-21", min_length=1)
    ai_timeout: float = Field(
        15.0, gt=0, le=300, description="Seconds one AI call may take, retries included."
    )
    ai_max_retries: int = Field(
        2, ge=0, le=10, description="Retries on 408/429/5xx/timeouts (Retry-After honoured)."
    )
    ai_max_output_tokens: int = Field(300, ge=16, le=8192)
    ai_breaker_threshold: int = Field(
        5, ge=1, description="Failed calls in a row that open the circuit (offline answers)."
    )
    ai_breaker_reset: float = Field(
        30.0, gt=0, description="Seconds the circuit stays open before one call is tried again."
    )
    ai_fallback_after: float = Field(
        0.5,
        ge=0,
        description="Seconds a player waits for an NPC's first words while the provider answers"
        " errors (the SDK retrying): past this the offline line answers. 0 = wait out the"
        " retries.",
    )
    ai_max_concurrency: int = Field(
        32, ge=1, le=10000, description="AI calls in flight at once, whole server."
    )
    ai_player_concurrency: int = Field(1, ge=1, le=16, description="AI calls in flight per player.")
    ai_queue_timeout: float = Field(
        2.0, ge=0, description="Seconds a call may wait for a slot before offline answers."
    )
    ai_rate_free: float = Field(
        10.0, gt=0, description="AI calls per minute per player on the free tier."
    )
    ai_rate_premium: float = Field(
        60.0, gt=0, description="AI calls per minute per player with ai:premium."
    )
    ai_player_tokens_per_hour: int = Field(
        20000, ge=0, description="Tokens one player may spend per hour; 0 = no cap."
    )
    ai_server_tokens_per_day: int = Field(
        2000000, ge=0, description="Tokens the server may spend per day; 0 = no cap."
    )
    ai_cost_input_per_1k: float = Field(
        0.00015, ge=0, description="USD per 1,000 prompt tokens, for the cost metric."
    )
    ai_cost_output_per_1k: float = Field(0.0006, ge=0)
    ai_cache_ttl: float = Field(
        3600.0, gt=0, description="Seconds a cacheable AI answer (missions) is reused."
    )
    ai_memory_token_budget: int = Field(
        600, ge=0, description="Prompt tokens given to an NPC's memories."
    )
    ai_moderation: Literal["none", "blocklist"] = Field(
        "blocklist", description="Screen player text and replies (blocklist: AI_MODERATION_WORDS)."
    )
    ai_moderation_words: str = Field(
        "", description="Comma-separated extra words the blocklist moderation rejects."
    )
    otel_exporter: Literal["none", "console"] = Field(
        "none", description="Where OpenTelemetry spans of AI calls go."
    )

    # --- security (seed; used by accounts) ---
    jwt_secret: str | None = Field(None, description="HMAC secret for player tokens (accounts).")
    encryption_key: str | None = None
    cors_origins: str = Field(
        "",
        description="Comma-separated origins (scheme://host[:port]) whose pages may open the"
        " WebSocket and call /auth (CORS); * = any. A request without Origin (not a browser) is"
        " always allowed, a page served by this server itself too; any other Origin is refused"
        " 403.",
    )

    # --- gameplay: NPC memory, rumours, relationships, companions (issue 9) ---
    npc_memory_hour_seconds: float = Field(
        120.0,
        gt=0,
        description="Real seconds per game hour, for memory ages and decay (GTA's clock: 120).",
    )
    npc_memory_decay: float = Field(
        0.98, gt=0, le=1, description="Memory weights are multiplied by this once per game day."
    )
    npc_memory_decay_floor: int = Field(
        5, ge=0, le=100, description="Decay never takes a memory's weight below this."
    )
    npc_memory_ttl_days: float = Field(
        30.0, ge=0, description="Real days a new memory lives before it expires; 0 = no expiry."
    )
    npc_memory_retention_months: int = Field(
        6,
        ge=0,
        le=120,
        description="Memories older than this many whole months are deleted (PostgreSQL drops"
        " their monthly partitions); 0 = keep forever.",
    )
    npc_memory_candidates: int = Field(
        40, ge=1, le=500, description="Stored memories fetched per talk before scoring."
    )
    npc_witness_radius: float = Field(
        30.0, gt=0, description="Metres within which NPCs witness (and remember) an event."
    )
    npc_witness_max: int = Field(
        16, ge=1, le=256, description="Most NPCs (the nearest) that remember one event."
    )
    rumour_fanout: int = Field(
        4, ge=0, le=64, description="Faction-mates one NPC tells about an event; 0 = no rumours."
    )
    rumour_radius: float = Field(
        250.0, gt=0, description="Metres within which an NPC finds faction-mates to tell."
    )
    rumour_interval: float = Field(
        60.0, ge=0, description="Seconds before the same NPC spreads another rumour."
    )
    rumour_weight_factor: float = Field(
        0.6, gt=0, le=1, description="A rumour's weight as a share of the witness's memory."
    )
    companion_limit: int = Field(1, ge=0, le=16, description="Companions per player.")
    companion_limit_premium: int = Field(
        3, ge=0, le=16, description="Companions per player with the ai:premium permission."
    )
    guests_create_factions: bool = Field(
        False,
        description="Guests may create factions (accounts need create:faction in their token).",
    )
    rumour_on_talk: bool = Field(
        True,
        description="An NPC a player threatened, insulted or thanked tells its faction-mates.",
    )
    # --- gameplay: missions (issue 9) ---
    mission_check_interval: float = Field(
        0.5,
        ge=0.05,
        le=10.0,
        description="Seconds between two checks of every accepted mission's objectives"
        " (off the tick).",
    )
    mission_offer_ttl: float = Field(
        600.0, gt=0, description="Seconds an offered mission waits to be accepted."
    )
    mission_max_reward: int = Field(
        5000, ge=0, le=1_000_000, description="Most money one generated mission may pay."
    )
    mission_open_offers: int = Field(
        3, ge=1, le=20, description="Offers a player may hold at once (not yet accepted)."
    )

    @field_validator("world_floor_z", mode="before")
    @classmethod
    def _unset_number(cls, v: Any) -> Any:
        # `WORLD_FLOOR_Z=` in a .env file means unset, as `# WORLD_FLOOR_Z=` in the example does.
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("sqlite_path", "journal_path")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        # Relative to the directory the server was started in, which nobody sees later:
        # resolved once here, the path logged at start and shown by `ganggpt config` is real.
        if v is None or v in ("", ":memory:"):
            return v
        return os.path.abspath(os.path.expanduser(v))

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _postgres_url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("must be a postgresql:// URL (unset for embedded SQLite)")
        return v or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL (unset for in-process)")
        return v or None

    @field_validator("ai_provider", mode="before")
    @classmethod
    def _old_backend_name(cls, value: Any) -> Any:
        # AI_BACKEND=local meant an OpenAI-compatible server at OPENAI_BASE_URL.
        return "openai" if isinstance(value, str) and value.lower() == "local" else value

    # --- accounts and tokens (auth) ---
    env: Literal["development", "production"] = Field(
        "development",
        description="production refuses weak secrets and guest play; development allows both.",
    )
    allow_guests: bool | None = Field(
        None,
        description="Guest play without an account; unset = on in development, off in production"
        " (setting it true in production is refused).",
    )
    bcrypt_rounds: int = Field(
        11,
        ge=10,
        le=16,
        description="bcrypt cost; each step doubles login CPU (11 = about 0.13 s per login on 2 cores).",
    )
    bcrypt_concurrency: int = Field(
        1, ge=1, le=64, description="Password hashes computed at once, in worker threads."
    )
    bcrypt_queue: int = Field(
        64, ge=1, description="Logins waiting for a hashing thread before new ones get busy errors."
    )
    access_token_ttl: int = Field(
        60, ge=10, le=3600, description="Seconds an access token (the JWT in hello) stays valid."
    )
    refresh_token_ttl: int = Field(
        3600, ge=60, description="Seconds an unused refresh token stays valid; each use rotates it."
    )
    session_max_age: int = Field(
        30 * 86400,
        ge=60,
        description="Seconds a login session lasts at most, however often it is refreshed.",
    )
    single_session: bool = Field(
        False, description="true: a new login ends the account's other sessions."
    )
    max_sessions_per_account: int = Field(
        10, ge=1, le=1000, description="Live sessions per account; the oldest ends past this."
    )
    login_failures_per_account: int = Field(
        5, ge=1, description="Failed logins per account within LOGIN_WINDOW before it is throttled."
    )
    login_failures_per_ip: int = Field(
        20,
        ge=1,
        description="Failed logins per address within LOGIN_WINDOW before it is throttled.",
    )
    login_window: float = Field(
        300.0, gt=0, description="Seconds of the sliding window that login failures are counted in."
    )
    registrations_per_ip: int = Field(
        10, ge=1, description="Accounts one address may register within an hour."
    )
    encryption_keys_old: str = Field(
        "",
        description="Comma-separated former ENCRYPTION_KEYs, still read (never written) during"
        " key rotation.",
    )

    @model_validator(mode="after")
    def _check_auth(self) -> Config:
        # Messages name the variable and the rule, never the value: these are secrets.
        problems: list[str] = []
        production = self.env == "production"
        if production:
            problems += [f"JWT_SECRET: {p}" for p in jwt_secret_problems(self.jwt_secret)]
            if self.allow_guests:
                problems.append("ALLOW_GUESTS: guest play is not allowed when ENV=production")
        keys = [("ENCRYPTION_KEY", self.encryption_key or "")]
        keys += [
            (f"ENCRYPTION_KEYS_OLD (entry {i})", v)
            for i, v in enumerate(split_keys(self.encryption_keys_old), 1)
        ]
        for name, value in keys:
            if value:
                try:
                    decode_key(value)
                except ValueError as err:
                    problems.append(f"{name}: {err}")
        if self.encryption_keys_old.strip() and not self.encryption_key:
            problems.append(
                "ENCRYPTION_KEYS_OLD: needs ENCRYPTION_KEY (the key new data is written with)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def guests_allowed(self) -> bool:
        if self.allow_guests is None:
            return self.env != "production"
        return self.allow_guests

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

    # --- transport limits ---
    client_send_queue_max: int = Field(
        1024 * 1024,
        ge=16 * 1024,
        description="Bytes the server may hold unsent for one client, every kind of frame"
        " together (STATE, pongs, errors, chat, close); past it the client is closed with 4006.",
    )
    http_request_max: int = Field(
        16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest HTTP request head (request line and headers), bytes; a larger one"
        " is answered 431 and closed.",
    )
    max_connections_per_ip: int = Field(
        32,
        ge=0,
        description="Open connections one client address may hold (every kind: WebSocket and"
        " HTTP); one more is answered 429 and closed. 0 = no limit.",
    )
    handshakes_per_ip: int = Field(
        30,
        ge=0,
        description="WebSocket upgrades one address may ask for within HANDSHAKE_RATE_WINDOW;"
        " more are answered 429 with Retry-After. 0 = no limit.",
    )
    handshake_rate_window: float = Field(
        10.0, gt=0, le=3600, description="Seconds of the sliding window HANDSHAKES_PER_IP counts."
    )
    ip_limits_exempt: str = Field(
        "127.0.0.0/8,::1/128",
        description="Comma-separated addresses or networks (CIDR) that MAX_CONNECTIONS_PER_IP and"
        " HANDSHAKES_PER_IP do not apply to: by default loopback (load tools, a local reverse"
        " proxy, through which every client would share one address); empty = none.",
    )
    chat_rate_limit: int = Field(
        30,
        ge=1,
        description="chat and custom messages one client may send within CHAT_RATE_WINDOW; more"
        " are dropped with error 18 CHAT_RATE_LIMITED.",
    )
    chat_rate_window: float = Field(
        10.0, gt=0, le=3600, description="Seconds of the sliding window CHAT_RATE_LIMIT counts."
    )
    tls_cert_file: str | None = Field(
        None,
        description="PEM certificate chain: with TLS_KEY_FILE, the server port speaks TLS"
        " (wss://, https://; TLS 1.2 minimum). Unset = plain TCP (TLS terminated in front).",
    )
    tls_key_file: str | None = Field(None, description="PEM private key of TLS_CERT_FILE.")
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port serving /health and /metrics on their own, so the game port exposes"
        " only the game; unset = on the game port in development, 22006 in production; equal to"
        " SERVER_PORT = on the game port; 0 = any free port (tests).",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the separate /health and /metrics port listens on."
    )

    @model_validator(mode="after")
    def _check_relations(self) -> Config:
        problems: list[str] = []
        if 1 + self.npc_count + self.npc_spawn_capacity + self.max_players > NET_ID_LIMIT:
            problems.append(
                "MAX_PLAYERS + NPC_COUNT + NPC_SPAWN_CAPACITY: must be at most"
                f" {NET_ID_LIMIT - 1} together (net ids are 16-bit; got {self.max_players} +"
                f" {self.npc_count} + {self.npc_spawn_capacity})"
            )
        problems.extend(self._ai_problems())
        if self.world_max_x <= self.world_min_x:
            problems.append("WORLD_MAX_X: must be greater than WORLD_MIN_X")
        if self.world_max_y <= self.world_min_y:
            problems.append("WORLD_MAX_Y: must be greater than WORLD_MIN_Y")
        if self.world_max_z <= self.world_min_z:
            problems.append("WORLD_MAX_Z: must be greater than WORLD_MIN_Z")
        if self.world_floor_z is not None and not (
            self.world_min_z <= self.world_floor_z <= min(0.0, self.world_max_z)
        ):
            # New players spawn at z 0: a floor above it would refuse their every step.
            problems.append(
                "WORLD_FLOOR_Z: must be at least WORLD_MIN_Z and at most 0 (the spawn height)"
            )
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
        problems.extend(self._transport_problems())
        if self.client_send_queue_max <= self.send_buffer_high:
            problems.append("CLIENT_SEND_QUEUE_MAX: must be greater than SEND_BUFFER_HIGH")
        for mod in filter(None, (m.strip() for m in self.game_modules.split(","))):
            if not all(part.isidentifier() for part in mod.split(".")):
                problems.append(f"GAME_MODULES: {mod!r} is not a dotted module name")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _transport_problems(self) -> list[str]:
        problems: list[str] = []
        try:
            origin_list(self.cors_origins)
        except ValueError as err:
            problems.append(f"CORS_ORIGINS: {err}")
        try:
            exempt_networks(self.ip_limits_exempt)
        except ValueError as err:
            problems.append(f"IP_LIMITS_EXEMPT: {err}")
        if self.chat_rate_limit / self.chat_rate_window >= self.input_rate_limit:
            problems.append(
                "CHAT_RATE_LIMIT: must be a lower rate than INPUT_RATE_LIMIT"
                f" ({self.input_rate_limit}/s) over CHAT_RATE_WINDOW"
            )
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            missing = "TLS_KEY_FILE" if self.tls_cert_file else "TLS_CERT_FILE"
            problems.append(f"{missing}: TLS needs both TLS_CERT_FILE and TLS_KEY_FILE")
        for name, path in (
            ("TLS_CERT_FILE", self.tls_cert_file),
            ("TLS_KEY_FILE", self.tls_key_file),
        ):
            if path and not os.path.isfile(path):
                problems.append(f"{name}: no such file: {path}")
        if self.metrics_separate and self.metrics_bind[1] == self.server_port != 0:
            problems.append("METRICS_PORT: the separate port must differ from SERVER_PORT")
        return problems

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(origin_list(self.cors_origins))

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert_file and self.tls_key_file)

    @property
    def metrics_separate(self) -> bool:
        """Whether /health and /metrics have their own listener (not the game port)."""
        if self.metrics_port is None:
            return self.env == "production"
        return self.metrics_port == 0 or self.metrics_port != self.server_port

    @property
    def metrics_bind(self) -> tuple[str, int]:
        """(host, port) of the separate /health and /metrics listener."""
        port = DEFAULT_METRICS_PORT if self.metrics_port is None else self.metrics_port
        return self.metrics_host, port

    def _ai_problems(self) -> list[str]:
        """A provider that is selected but cannot work is named now, not at the first talk."""
        if self.ai_provider == "openai" and not (self.openai_api_key or self.openai_base_url):
            return [
                "OPENAI_API_KEY: required when AI_PROVIDER=openai"
                " (or set OPENAI_BASE_URL for a local OpenAI-compatible server)"
            ]
        if self.ai_provider == "azure":
            need = {
                "AZURE_OPENAI_ENDPOINT": self.azure_openai_endpoint,
                "AZURE_OPENAI_KEY": self.azure_openai_key,
                "AZURE_OPENAI_DEPLOYMENT": self.azure_openai_deployment,
            }
            return [f"{k}: required when AI_PROVIDER=azure" for k, v in need.items() if not v]
        return []

    @property
    def ai_backend(self) -> str:
        """Deprecated name of `ai_provider` (the /health check still reads it)."""
        return self.ai_provider

    @property
    def game_module_names(self) -> list[str]:
        return [m.strip() for m in self.game_modules.split(",") if m.strip()]

    @property
    def ticks_per_patch(self) -> int:
        return self.tickrate // self.send_rate

    def public_dict(self) -> dict[str, Any]:
        """The configuration with secrets masked, for logs and the admin console."""
        return mask_settings(self.model_dump())

    def secrets(self) -> tuple[str, ...]:
        """Every raw secret this config holds, for `config.secrets.redact` on any output."""
        return secret_values(self.model_dump())


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) if e["loc"] else ""
        name = loc.upper() if loc else ""
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        if loc:
            got = mask_value(loc, got)
        shown = f" (got {got!r})" if loc and not isinstance(got, dict) else ""
        lines.append(f"{name}: {msg}{shown}" if name else msg)
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_config(**overrides: Any) -> Config:
    """Build the config from the environment; `overrides` win (tests and tools use them)."""
    try:
        return Config(**overrides)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


# --- accounts and tokens (auth): checks shared with server/auth ---

# Values copied from sample configs (the seed's own included) that must never sign real tokens.
PLACEHOLDER_SECRETS = frozenset(
    {
        "your_jwt_secret",
        "your-jwt-secret",
        "jwt_secret",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "default",
        "example",
        "test",
        "development",
        "dev",
    }
)
MIN_JWT_SECRET_BYTES = 32


def jwt_secret_problems(secret: str | None) -> list[str]:
    """Why `secret` may not sign production tokens (empty list = fine). Never quotes it."""
    if not secret:
        return [
            "must be set when ENV=production (32 or more random bytes, e.g. `openssl rand -hex 32`)"
        ]
    lowered = secret.strip().lower()
    if lowered in PLACEHOLDER_SECRETS or any(
        word in lowered for word in ("your_", "your-", "changeme", "change_me", "change-me")
    ):
        return ["is a placeholder from an example config; generate one with `openssl rand -hex 32`"]
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        return [f"must be at least {MIN_JWT_SECRET_BYTES} bytes (got {len(secret.encode())})"]
    if len(set(secret)) < 8:
        return ["has too few distinct characters to be random; use `openssl rand -hex 32`"]
    return []


DEFAULT_METRICS_PORT = 22006  # /health and /metrics in production unless METRICS_PORT is set


def origin_list(text: str) -> list[str]:
    """CORS_ORIGINS as normalised origins (`scheme://host[:port]`, lower case), `*` or `null`."""
    out: list[str] = []
    for raw in text.split(","):
        item = raw.strip().rstrip("/").lower()
        if not item:
            continue
        if item in ("*", "null"):
            out.append(item)
            continue
        parts = urlsplit(item)
        # Any scheme: game clients' embedded browsers have their own (RAGE:MP's package://).
        if not re.fullmatch(r"[a-z][a-z0-9+.-]*", parts.scheme) or not parts.hostname:
            raise ValueError(f"{raw.strip()!r} is not an origin like https://example.com")
        if parts.path or parts.query or parts.fragment or parts.username:
            raise ValueError(f"{raw.strip()!r}: an origin has no path, query or user")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError(f"{raw.strip()!r} has a bad port") from None
        out.append(f"{parts.scheme}://{parts.netloc}")
    return out


def exempt_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for raw in text.split(","):
        item = raw.strip()
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an address or network (CIDR)") from None
    return out


def split_keys(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def decode_key(text: str) -> bytes:
    """A 32-byte key written as 64 hex digits or as base64 (standard or URL-safe)."""
    value = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return bytes.fromhex(value)
    try:
        raw = base64.b64decode(
            value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise ValueError("must be 32 bytes written as 64 hex digits or base64") from None
    if len(raw) != 32:
        raise ValueError(
            f"must decode to 32 bytes (got {len(raw)}); e.g. `openssl rand -base64 32`"
        )
    return raw


def database_location(config: Config) -> str:
    """Where the database is (no credentials): SQLite's absolute path, or PostgreSQL's
    host:port/database."""
    if config.database_url:
        p = urlsplit(config.database_url)
        return f"postgresql://{p.hostname or ''}:{p.port or 5432}{p.path or '/'}"
    return str(Path(config.sqlite_path).resolve())


def default_journal_path(config: Config) -> str:
    """JOURNAL_PATH when set; else one journal per database: next to the SQLite file, or
    data/journal-<hash of host:port/database> for PostgreSQL."""
    if config.journal_path:
        return config.journal_path
    if not config.database_url:
        return f"{config.sqlite_path}.journal"
    digest = hashlib.sha256(database_location(config).encode()).hexdigest()[:12]
    return os.path.abspath(f"data/journal-{digest}")
