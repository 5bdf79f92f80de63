"""Open N web dashboards headless against a running server, to measure what they cost it.

    python -m client_sdk.tools.dashboards --url http://127.0.0.1:22005 \\
        --user boss --password '...' -n 4 --seconds 120

Each dashboard is a real page in Debian's chromium (Playwright drives it by path, no browser
download): it logs in, opens the admin console (`metrics`, `events` and `players` pushes, the
players table every 5 s) and watches the world as a spectator on /ws, drawing every frame, as an
operator's would. The tool holds them open for --seconds, then prints one JSON line: how many
opened and what each drew. Compare the server's tick p99 (its /metrics, or `make bench`'s
table) over a window with and without them.

The account must be able to open /admin (role admin, or any admin permission). `--make-admin`
registers it if needed and runs `ganggpt role USER admin` (`python -m server role`) first: run
the tool with the server's database settings in the environment (SQLITE_PATH or DATABASE_URL),
as for any `ganggpt` command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FPS_JS = """() => new Promise((done) => {
  let n = 0; const t0 = performance.now();
  const step = (t) => { n++; if (t - t0 < 2000) requestAnimationFrame(step); else done(n * 1000 / (t - t0)); };
  requestAnimationFrame(step);
})"""


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def make_admin(base: str, user: str, password: str) -> None:
    """Register `user` (if new) and give it the admin role with `ganggpt role`."""
    status, body = _post(
        f"{base}/auth/register",
        {"username": user, "email": f"{user}@dashboards.invalid", "password": password},
    )
    if status not in (201, 409):
        raise SystemExit(f"register {user}: {status} {body}")
    done = subprocess.run(
        [sys.executable, "-m", "server", "role", user, "admin"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"ganggpt role {user} admin: {done.stderr.strip() or done.stdout.strip()}")


async def open_one(browser: Any, base: str, user: str, password: str) -> Any:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.goto(f"{base}/dashboard")
    await page.fill("#login-name", user)
    await page.fill("#login-password", password)
    await page.click("#login-submit")
    await page.wait_for_selector("#conn-status.ok", timeout=30000)
    return page


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    path = shutil.which(args.chromium) or shutil.which("chromium")
    if path is None:
        raise SystemExit("no chromium: apt-get install -y chromium")
    base = args.url.rstrip("/")
    if args.make_admin:
        make_admin(base, args.user, args.password)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            pages = []
            for _ in range(args.n):  # one after another: N logins at once would be throttled
                pages.append(await open_one(browser, base, args.user, args.password))
            opened_at = time.monotonic()
            print(f"{len(pages)} dashboards open for {args.seconds:g} s", file=sys.stderr)
            await asyncio.sleep(args.seconds)
            drawn = [int(await p.get_attribute("#map", "data-dots") or 0) for p in pages]
            points = [int(await p.get_attribute("#charts", "data-points") or 0) for p in pages]
            # Frames the page drew in 2 s (the map redraws every animation frame): the
            # browser side of "thousands of dots stay smooth".
            fps = [round(await p.evaluate(FPS_JS), 1) for p in pages]
            return {
                "dashboards": len(pages),
                "seconds": round(time.monotonic() - opened_at, 1),
                "dots": drawn,
                "metrics_pushes": points,
                "fps": fps,
            }
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:22005", help="the server's HTTP base URL")
    ap.add_argument("--user", required=True, help="an account that can open /admin")
    ap.add_argument("--password", required=True)
    ap.add_argument("-n", type=int, default=1, help="dashboards to open (default 1)")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to hold them open")
    ap.add_argument("--chromium", default=CHROMIUM, help="the browser binary")
    ap.add_argument(
        "--make-admin",
        action="store_true",
        help="register the account if needed and run `ganggpt role USER admin` first",
    )
    args = ap.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
