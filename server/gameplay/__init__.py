"""Gameplay domain services: factions, missions (this helper); NPC memory, companions, rumours
(memory.py, companions.py, rumours.py).

Plain async services and pure logic that the game layer's handlers call. Nothing here touches
the network or runs on the tick: services take the repositories (`persistence.repos`), the AI
service and an `emit(event)` callback; every change is emitted as a dataclass of
`server.gameplay.events` after it is durable, for the integrator to map onto the event bus.

The game layer wires factions (`server/game/factions.py`, `game.factions.service`: pass that
one to MissionService), companions (`server/game/companions.py`) and rumours
(`server/game/rumours.py`); every service's `emit` is the game bus's `publish`, and
`GameplayMetrics.for_registry(registry)` hands every wiring the same metrics.

Wiring (once per server)::

    metrics = GameplayMetrics(registry)
    factions = FactionService(persistence.repos, emit, metrics)
    missions = MissionService(persistence.repos, ai_service, factions, emit, metrics,
                              credit=lambda player_id, delta: <add delta to the live player>)
    await missions.restore()                      # open offers and accepted missions
    index = NpcFactionIndex()
    def view() -> WorldView:                      # called by the tracker between ticks
        index.refresh(world, budget=1000)
        return view_of_world(world, time.time(), player_nids, index,
                             talked=talked_by_player, faction_players=nids_by_faction)
    tracker = MissionTracker(missions, view, interval=0.5)   # 2 Hz, off the tick
    tracker.start() ... await tracker.stop()

Factions (`server.gameplay.factions.FactionService`; errors: `FactionError.code`)::

    await factions.create(player_id, name, display_name, permissions=jwt_permissions)
    await factions.join(player_id, name) / leave(player_id)
    await factions.promote(actor_id, target_id) / demote(...) / kick(...)
    await factions.state(name)        # FactionState, cached under faction:{name}:state
    await factions.members(name)      # [Membership] with ranks, join order
    await factions.relationship(a, b) # Relation(strength, stance)
    await factions.prompt_lines(name) # ("ballas is war with vagos (-72)", ...) for NPC prompts
    await factions.member_killed(victim_faction, killer_faction, event_id=...)
    await factions.shift(a, b, delta, reason=..., event_id=None)

Missions (`server.gameplay.missions.MissionService`; errors: `MissionError.code`)::

    await missions.offer(mission_context, caller_info)  # -> MissionOffered (generated, stored)
    await missions.accept(player_id, mission_id)        # -> MissionAccepted
    await missions.complete(player_id, mission_id)      # -> CompletionResult; exactly once
    await missions.fail(player_id, mission_id, reason)  # abandon
    await missions.history(player_id); difficulty_for(history)

Objectives: `server.gameplay.objectives.check_objectives(MissionState, WorldView) -> Progress`
(pure). Metrics: `server.gameplay.metrics.GameplayMetrics`.
"""
