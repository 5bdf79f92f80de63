"""Print how long bcrypt takes at each cost on this machine (to choose BCRYPT_ROUNDS).

`python -m server.auth.bcrypt_timing [--rounds 10 11 12 13] [--repeat 3]`. Not a test: a
shared machine's figures vary, so nothing asserts them.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import sys
import time

import bcrypt


def measure(rounds: int, repeat: int) -> tuple[list[float], list[float]]:
    password = b"correct horse battery staple"
    hashes, verifies = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        hashed = bcrypt.hashpw(password, bcrypt.gensalt(rounds))
        hashes.append(time.perf_counter() - t)
        t = time.perf_counter()
        bcrypt.checkpw(password, hashed)
        verifies.append(time.perf_counter() - t)
    return hashes, verifies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m server.auth.bcrypt_timing", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, nargs="+", default=[10, 11, 12, 13])
    parser.add_argument("--repeat", type=int, default=3, help="measurements per cost")
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {importlib.metadata.version('ganggpt-server')}",
    )
    args = parser.parse_args(argv)
    print(f"{'cost':>4}  {'hash ms (median, each)':<34}  verify ms (median, each)")
    for rounds in args.rounds:
        if not 4 <= rounds <= 31:
            parser.error("--rounds must be between 4 and 31")
        hashes, verifies = measure(rounds, args.repeat)

        def show(xs: list[float]) -> str:
            each = ", ".join(f"{x * 1000:.0f}" for x in xs)
            return f"{statistics.median(xs) * 1000:6.0f}  ({each})"

        print(f"{rounds:>4}  {show(hashes):<34}  {show(verifies)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
