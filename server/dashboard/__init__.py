"""The web dashboard (`/dashboard`): static files, no build step.

The page logs in with `POST /auth/login`, talks to the admin console (`/admin`, the admin
endpoint) and watches the world through a spectator connection on `/ws` with the JavaScript
SDK (served from client_sdk/js/dist at `/dashboard/sdk/`). Only `files.py` is Python: the
server hands out bytes, every view is in `static/`.
"""
