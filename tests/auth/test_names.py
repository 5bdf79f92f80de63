"""Names: PRECIS normalisation, no invisible characters, look-alikes refused while held."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.auth.names import (
    DISPLAY_MAX,
    NameRefused,
    NameRegistry,
    NameTaken,
    normalize_display_name,
    normalize_username,
    skeleton,
    skeletons,
)

INVISIBLE = [
    "\u200b",  # zero width space
    "\u200c",  # zero width non-joiner
    "\u200d",  # zero width joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u00ad",  # soft hyphen
    "\u2028",  # line separator (Zl)
    "\u2029",  # paragraph separator (Zp)
    "\x00",
    "\x1b",
    "\x7f",
    "\u0085",
]


def test_display_names_are_nfkc_and_spaces_collapse() -> None:
    assert normalize_display_name("  Big\u3000  Tony ") == "Big Tony"
    assert normalize_display_name("Ｔｏｎｙ") == "Tony"
    assert normalize_display_name("ﬁsh") == "fish"
    assert normalize_display_name("José") == "José"


@pytest.mark.parametrize("ch", INVISIBLE)
def test_invisible_and_control_characters_are_refused(ch: str) -> None:
    with pytest.raises(NameRefused) as e:
        normalize_display_name(f"Tony{ch}Soprano")
    assert e.value.reason == "forbidden_character"
    with pytest.raises(NameRefused):
        normalize_username(f"tony{ch}")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ab", "too_short"),
        ("x" * (DISPLAY_MAX + 1), "too_long"),
        ("x" * 10_000, "too_long"),
        ("...", "no_letters"),
        ("a\u0301\u0302\u0303\u0304bc", "forbidden_character"),
    ],
)
def test_length_and_content_rules(raw: str, reason: str) -> None:
    with pytest.raises(NameRefused) as e:
        normalize_display_name(raw)
    assert e.value.reason == reason


def test_usernames_fold_case_and_refuse_spaces() -> None:
    assert normalize_username("Tony") == normalize_username("TONY") == "tony"
    with pytest.raises(NameRefused):
        normalize_username("big tony")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Bob", "BOB"),
        ("Bob", "B0b"),
        ("BOB", "ВОВ"),  # Cyrillic
        ("Bob", "Bób"),
        ("Bob", "B.o.b"),
        ("Bob", "B o b"),
        ("Bill", "BiII"),
        ("Bill", "BILL"),
        ("AlI", "All"),
        ("modern", "rnodern"),
        ("paypal", "pаypal"),  # Cyrillic a
        ("Anna", "Αnna"),  # Greek Alpha
        ("Bob", "𝐁𝐨𝐛"),  # mathematical bold
        ("Tony", "Ｔｏｎｙ"),
    ],
)
def test_look_alikes_share_a_skeleton(a: str, b: str) -> None:
    assert skeletons(a) & skeletons(b)
    reg = NameRegistry()
    reg.claim(a, "first")
    with pytest.raises(NameTaken):
        reg.claim(b, "second")


@pytest.mark.parametrize(("a", "b"), [("Bob", "Rob"), ("Ali", "All"), ("Tony", "Tina")])
def test_different_names_keep_different_skeletons(a: str, b: str) -> None:
    assert not skeletons(a) & skeletons(b)
    reg = NameRegistry()
    reg.claim(a, "first")
    reg.claim(b, "second")


def test_registry_refuses_a_look_alike_of_a_live_player() -> None:
    reg = NameRegistry()
    assert reg.claim("Tony", "acc1") == "Tony"
    with pytest.raises(NameTaken) as e:
        reg.claim("T0ny", "acc2")
    assert e.value.reason == "name_taken"
    with pytest.raises(NameTaken):
        reg.claim("Тоnу", "acc2")  # Cyrillic Т, о, у
    assert reg.holder("TONY") == "acc1"
    reg.claim("T0NY", "acc1")  # the holder may change how theirs is written
    assert reg.name_of("acc1") == "T0NY"
    reg.release("acc1")
    assert reg.claim("Tony", "acc2") == "Tony"
    assert len(reg) == 1


def test_renaming_frees_the_old_name() -> None:
    reg = NameRegistry()
    reg.claim("Tony", "acc1")
    reg.claim("Paulie", "acc1")
    assert reg.holder("Tony") is None
    reg.claim("Tony", "acc2")


NAME_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@settings(max_examples=300, deadline=None)
@given(st.text(NAME_CHARS, max_size=40))
def test_any_accepted_name_is_clean_and_stable(raw: str) -> None:
    try:
        name = normalize_display_name(raw)
    except NameRefused:
        return
    assert name == normalize_display_name(name)  # idempotent
    assert name == name.strip() and "  " not in name
    for ch in name:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")
    assert 3 <= len(name) <= DISPLAY_MAX
    assert skeleton(skeleton(name)) == skeleton(name)  # a fixed point


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=3, max_size=20))
def test_case_and_width_variants_always_clash(raw: str) -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in raw)
    reg = NameRegistry()
    reg.claim(raw, "a")
    for variant in (raw.upper(), raw.lower(), wide):
        with pytest.raises(NameTaken):
            reg.claim(variant, "b")


@settings(max_examples=200, deadline=None)
@given(st.text(NAME_CHARS, min_size=1, max_size=30), st.sampled_from(INVISIBLE))
def test_inserting_an_invisible_character_never_yields_a_new_name(raw: str, ch: str) -> None:
    try:
        normalize_display_name(raw[: len(raw) // 2] + ch + raw[len(raw) // 2 :])
    except NameRefused:
        return
    pytest.fail("a name with an invisible character was accepted")
