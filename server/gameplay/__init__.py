"""Gameplay domain services: factions, missions, NPC memory, companions.

Plain async services and pure logic that the game layer's handlers call. Nothing
here touches the network or the tick: services take repositories, the AI service
and an ``emit`` callback (:mod:`server.gameplay.events`) and are wired in by the
integrator. The full API is documented below as modules land.
"""
