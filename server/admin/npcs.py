"""NPC commands (filled in next)."""
