"""Game modes shipped with the server (examples of the extension API)."""
