"""Which memories go into an NPC's prompt: scored, then packed under a token budget.

Score (each part in 0..1, so the weights read as shares of the total):

    score = W_RECENCY    * 0.5 ** (age_hours / HALF_LIFE_HOURS)
          + W_IMPORTANCE * weight / 100
          + W_RELEVANCE  * relevance(query, memory)

- recency decays exponentially in game hours: a memory HALF_LIFE_HOURS old counts half;
- importance is the memory's emotional weight (0-100);
- relevance is the cosine similarity of embeddings when both the query and the memory have
  one (clamped to 0..1), else a lexical score: the share of the query's content words found in
  the memory (offline, no model needed).

Relevance weighs most because a memory about what the player just said is the one a person
would recall; importance next, so a shooting outlives small talk; recency breaks ties.

Packing is greedy by score: a memory that does not fit the remaining budget is skipped and the
next (maybe shorter) one tried. Everything not included is counted in `left_out`, so a caller
can say "and N more things" and metrics can show budgets that are too small. Nothing pure here
touches I/O; the functions are deterministic for their inputs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from server.ai.context import Memory

W_RECENCY = 0.25
W_IMPORTANCE = 0.35
W_RELEVANCE = 0.40
HALF_LIFE_HOURS = 24.0

_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "i",
        "you",
        "he",
        "she",
        "it",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "its",
        "our",
        "their",
        "this",
        "that",
        "these",
        "those",
        "what",
        "who",
        "whom",
        "which",
        "when",
        "where",
        "why",
        "how",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "so",
        "just",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "there",
        "here",
        "about",
        "into",
        "over",
    ]
)


def estimate_tokens(text: str) -> int:
    """Tokens `text` will take, erring high: the larger of bytes/4 and words*4/3.

    Why not tiktoken: it downloads its encodings at first use, and the server must run with
    no network; a prompt that is estimated a little high still fits, one estimated low does not.
    """
    if not text:
        return 0
    by_bytes = len(text.encode()) / 4
    by_words = len(text.split()) * 4 / 3
    return math.ceil(max(by_bytes, by_words))


def content_words(text: str) -> set[str]:
    words = {w.strip("'") for w in _WORD.findall(text.lower())}
    # A crude plural/ing strip, so "guns"/"gun" and "dealing"/"deal" meet.
    out = set()
    for w in words:
        if not w or w in _STOP:
            continue
        for suffix in ("ing", "es", "s"):
            if len(w) > len(suffix) + 2 and w.endswith(suffix):
                w = w[: -len(suffix)]
                break
        out.add(w)
    return out


def lexical_relevance(query: str, text: str) -> float:
    q = content_words(query)
    if not q:
        return 0.0
    return len(q & content_words(text)) / len(q)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0 or nb == 0:
        return 0.0
    return dot / (na * nb)


def recency(age_hours: float) -> float:
    return float(0.5 ** (max(age_hours, 0.0) / HALF_LIFE_HOURS))


def relevance(query: str, memory: Memory, query_embedding: Sequence[float] | None) -> float:
    if query_embedding is not None and memory.embedding is not None:
        return min(max(cosine(query_embedding, memory.embedding), 0.0), 1.0)
    return lexical_relevance(query, memory.text)


def score(memory: Memory, query: str, query_embedding: Sequence[float] | None = None) -> float:
    importance = min(max(memory.weight, 0), 100) / 100
    return (
        W_RECENCY * recency(memory.age_hours)
        + W_IMPORTANCE * importance
        + W_RELEVANCE * relevance(query, memory, query_embedding)
    )


@dataclass(frozen=True, slots=True)
class ScoredMemory:
    memory: Memory
    score: float
    tokens: int


@dataclass(frozen=True, slots=True)
class MemorySelection:
    included: tuple[ScoredMemory, ...]
    left_out: int
    tokens_used: int
    budget: int


def select_memories(
    candidates: Sequence[Memory],
    query: str,
    budget_tokens: int,
    query_embedding: Sequence[float] | None = None,
) -> MemorySelection:
    """The best-scoring memories whose estimated tokens fit `budget_tokens`.

    Ties are broken by memory id, so the same inputs always give the same prompt (and so the
    same prompt hash and provider-side cache hit).
    """
    scored = sorted(
        (
            ScoredMemory(m, score(m, query, query_embedding), estimate_tokens(m.text))
            for m in candidates
        ),
        key=lambda s: (-s.score, s.memory.memory_id),
    )
    included: list[ScoredMemory] = []
    used = 0
    for s in scored:
        if used + s.tokens <= budget_tokens:
            included.append(s)
            used += s.tokens
    return MemorySelection(tuple(included), len(scored) - len(included), used, budget_tokens)
