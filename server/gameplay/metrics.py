"""Prometheus metrics of the gameplay services (the seed's game KPIs), on a registry passed in.

`ganggpt_missions_generated_total` is the seed's missionsGenerated (offers made to players, by
where the mission came from; the AI layer's own `ganggpt_ai_missions_generated_total` counts
model calls), `ganggpt_faction_events_total` its factionEvents.
"""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PASS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032)


_SHARED: weakref.WeakKeyDictionary[CollectorRegistry, GameplayMetrics] = weakref.WeakKeyDictionary()


class GameplayMetrics:
    @classmethod
    def of(cls, registry: CollectorRegistry) -> GameplayMetrics:
        """The one instance on `registry`: the services of one server share it (a second
        instance would register the same names twice)."""
        found = _SHARED.get(registry)
        if found is None:
            found = _SHARED[registry] = cls(registry)
        return found

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.missions_generated = Counter(
            "ganggpt_missions_generated_total",
            "Missions offered to players, by source (model, cache, offline, fallback).",
            ["source"],
            registry=r,
        )
        self.missions_accepted = Counter(
            "ganggpt_missions_accepted_total", "Mission offers accepted.", registry=r
        )
        self.missions_completed = Counter(
            "ganggpt_missions_completed_total",
            "Missions completed (reward and faction impact applied; counted once).",
            registry=r,
        )
        self.completion_repeats = Counter(
            "ganggpt_mission_completion_repeats_total",
            "Completion requests for a mission already completed (answered, nothing applied).",
            registry=r,
        )
        self.missions_failed = Counter(
            "ganggpt_missions_failed_total", "Missions failed, by reason.", ["reason"], registry=r
        )
        self.missions_expired = Counter(
            "ganggpt_missions_expired_total",
            "Missions expired, by the state they were in (offered, accepted).",
            ["state"],
            registry=r,
        )
        self.mission_rejected = Counter(
            "ganggpt_mission_requests_rejected_total",
            "Mission requests refused, by error code.",
            ["code"],
            registry=r,
        )
        self.mission_progress = Counter(
            "ganggpt_mission_progress_events_total",
            "Progress events emitted (only when an objective's progress changed).",
            registry=r,
        )
        self.active_missions = Gauge(
            "ganggpt_missions_active", "Accepted missions the tracker is checking.", registry=r
        )
        self.tracker_pass = Histogram(
            "ganggpt_mission_tracker_pass_seconds",
            "Time one tracker pass held the event loop (objective checks of all missions).",
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.tracker_errors = Counter(
            "ganggpt_mission_tracker_errors_total",
            "Tracker passes or mission updates that raised (logged, the tracker goes on).",
            registry=r,
        )
        self.faction_events = Counter(
            "ganggpt_faction_events_total",
            "Faction events: membership changes (created, joined, left, promoted, demoted,"
            " kicked) and relationship shifts (relationship).",
            ["event"],
            registry=r,
        )
        self.faction_rejected = Counter(
            "ganggpt_faction_requests_rejected_total",
            "Faction requests refused, by error code.",
            ["code"],
            registry=r,
        )
        self.relationship_changes = Counter(
            "ganggpt_faction_relationship_changes_total",
            "Relationship shifts applied, by reason (member_killed, mission, admin...).",
            ["reason"],
            registry=r,
        )
        self.stance_changes = Counter(
            "ganggpt_faction_stance_changes_total",
            "Relationship stance changes (war declared, alliance formed...), by new stance.",
            ["stance"],
            registry=r,
        )
