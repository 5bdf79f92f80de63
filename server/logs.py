"""Logging that never blocks the tick: records go through a bounded queue to a thread.

A full queue drops records (and counts them) rather than waiting: losing a log line is
better than a late tick. Every line, tracebacks included, has the configuration's secrets
removed before it is written (a driver's error can quote a URL with its password).
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
import time
from typing import Any

import orjson

from config.secrets import redact

_listener: logging.handlers.QueueListener | None = None
dropped = 0


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    def enqueue(self, record: logging.LogRecord) -> None:
        global dropped
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            dropped += 1


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(body).decode()


class RedactingFormatter(logging.Formatter):
    """Another formatter's output with every secret replaced by ***.

    Runs on the listener thread, so the replacing costs the tick nothing."""

    def __init__(self, inner: logging.Formatter, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record), self.secrets)


def setup_logging(level: str = "info", fmt: str = "text", secrets: tuple[str, ...] = ()) -> None:
    """Route every log record through a bounded queue to stderr; `secrets` (from
    `Config.secrets()`) never appear in what is written."""
    global _listener
    if _listener is not None:
        _listener.stop()
    stream = logging.StreamHandler(sys.stderr)
    inner: logging.Formatter
    if fmt == "json":
        inner = JsonFormatter()
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    stream.setFormatter(RedactingFormatter(inner, secrets) if secrets else inner)
    q: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=10000)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(_DroppingQueueHandler(q))
    root.setLevel(level.upper())
    logging.getLogger("websockets").setLevel(logging.WARNING)
    _listener = logging.handlers.QueueListener(q, stream, respect_handler_level=False)
    _listener.start()


def stop_logging() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
