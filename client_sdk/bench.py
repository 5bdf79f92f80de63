"""`python -m client_sdk.bench`: kept as an alias; the benchmarks live in
`client_sdk.tools.bench` (`make bench`)."""

from __future__ import annotations

import sys

from client_sdk.tools.bench import main

if __name__ == "__main__":
    sys.exit(main())
