"""Faction and mission commands (filled in next)."""
