"""Memory retrieval scoring and the token budget (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.ai.context import Memory
from server.ai.memory import (
    HALF_LIFE_HOURS,
    W_IMPORTANCE,
    W_RECENCY,
    W_RELEVANCE,
    estimate_tokens,
    lexical_relevance,
    recency,
    score,
    select_memories,
)


def test_weights_are_shares() -> None:
    assert pytest.approx(1.0) == W_RECENCY + W_IMPORTANCE + W_RELEVANCE


def test_recency_halves_every_half_life() -> None:
    assert recency(0) == 1.0
    assert recency(HALF_LIFE_HOURS) == pytest.approx(0.5)
    assert recency(3 * HALF_LIFE_HOURS) == pytest.approx(0.125)


def test_each_part_moves_the_score() -> None:
    base = Memory("a", "talked about the weather", 50, 10.0)
    assert score(Memory("a", base.text, 90, 10.0), "x") > score(base, "x")
    assert score(Memory("a", base.text, 50, 1.0), "x") > score(base, "x")
    assert score(base, "the weather today") > score(base, "guns")


def test_lexical_relevance_ignores_stopwords_and_plurals() -> None:
    assert lexical_relevance("the guns", "He sold a gun") == 1.0
    assert lexical_relevance("the a of", "anything") == 0.0
    assert lexical_relevance("docks work", "work at the docks") == 1.0


def test_embedding_cosine_is_used_when_both_sides_have_one() -> None:
    m = Memory("a", "nothing in common", 50, 1.0, embedding=(0.0, 1.0))
    assert score(m, "zzz", (0.0, 2.0)) > score(m, "zzz", (1.0, 0.0))
    assert score(m, "zzz", None) == score(m, "zzz", (1.0, 0.0))


def test_budget_includes_best_and_counts_the_rest() -> None:
    mems = [Memory(f"m{i}", "word " * 30, weight=i * 10, age_hours=1.0) for i in range(10)]
    per = estimate_tokens(mems[0].text)
    sel = select_memories(mems, "hello", budget_tokens=per * 3)
    assert [s.memory.memory_id for s in sel.included] == ["m9", "m8", "m7"]
    assert sel.left_out == 7 and sel.tokens_used == per * 3


def test_a_small_memory_still_fits_after_a_big_one_did_not() -> None:
    big = Memory("big", "word " * 200, 100, 0.0)
    small = Memory("small", "a short one", 10, 100.0)
    sel = select_memories([big, small], "", budget_tokens=20)
    assert [s.memory.memory_id for s in sel.included] == ["small"] and sel.left_out == 1


def test_estimator_errs_high() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("hello world") >= 2
    assert estimate_tokens("ü" * 40) >= 20


mem = st.builds(
    Memory,
    memory_id=st.text(min_size=1, max_size=6),
    text=st.text(max_size=300),
    weight=st.integers(-10, 150),
    age_hours=st.floats(0, 10_000),
)


@given(st.lists(mem, max_size=30), st.text(max_size=50), st.integers(0, 500))
@settings(max_examples=150, deadline=None)
def test_selection_never_exceeds_the_budget_and_drops_nothing_silently(
    memories: list[Memory], query: str, budget: int
) -> None:
    sel = select_memories(memories, query, budget)
    assert sel.tokens_used <= budget
    assert len(sel.included) + sel.left_out == len(memories)
    assert sum(s.tokens for s in sel.included) == sel.tokens_used
    assert select_memories(memories, query, budget) == sel
    scores = [s.score for s in sel.included]
    assert all(0.0 <= x <= 1.0 + 1e-9 for x in scores)
