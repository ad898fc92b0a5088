"""The name index of a World: exact spellings, numbered families (stems), and typo repair.

Built once per World. Typo repair (difflib ratios) only scans the *plain* vocabulary: names
without a separated numeric suffix, and the stems of those that have one ("web" for web-01 ...
web-4999). A misspelt numbered name ("wbe-4821") is repaired stem first, then looked up exactly,
so a 5,000-guest cluster of numbered names costs what its few dozen families cost.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from typing import NamedTuple

_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_SUFFIX = re.compile(r"^(.*[a-z].*?)[-_.](\d+)$")
_TRAILING_DIGITS = re.compile(r"^(.*[a-z])(\d+)$")
_CACHE_SIZE = 2048


class Ref(NamedTuple):
    """A pointer to one thing in the world: its kind and key (vmid, name, "host/name"...)."""

    kind: str
    key: str


class Fuzzy(NamedTuple):
    """A near miss of a name: how close (0..1), the indexed spelling, and what it names."""

    score: float
    spelling: str
    refs: tuple[Ref, ...]


def compact(text: str) -> str:
    """Return ``text`` lowercased with everything but letters and digits removed."""
    return _NOT_ALNUM.sub("", text.lower())


def name_keys(name: str) -> set[str]:
    """Return the exact spellings that name a thing: compact, and without zero padding."""
    keys = {compact(name)}
    match = _SUFFIX.match(name.lower())
    if match:
        keys.add(compact(match.group(1)) + str(int(match.group(2))))
    keys.discard("")
    return keys


def stem_of(name: str) -> str | None:
    """Return the name without a separated numeric suffix ("web-01" -> "web"), or None."""
    match = _SUFFIX.match(name.lower())
    return compact(match.group(1)) if match else None


class NameIndex:
    """Spellings -> Refs, filled with ``add`` and then only read."""

    def __init__(self) -> None:
        self._names: dict[str, list[Ref]] = defaultdict(list)
        self._stems: dict[str, list[Ref]] = defaultdict(list)
        self._numbered: set[str] = set()
        self._by_length: dict[int, tuple[str, ...]] = {}
        self._cache: dict[tuple[str, float], list[Fuzzy]] = {}

    def add(self, ref: Ref, name: str, *, stems: bool = True) -> None:
        """Index a thing under its name (and its stem when the name is numbered)."""
        whole = compact(name)
        match = _SUFFIX.match(name.lower()) if stems else None
        if match is None:
            self._names[whole].append(ref)
            return
        stem = compact(match.group(1))
        for key in {whole, stem + str(int(match.group(2)))}:
            self._names[key].append(ref)
            self._numbered.add(key)
        self._stems[stem].append(ref)

    def freeze(self) -> None:
        """Finish indexing: drop duplicates and bucket the plain vocabulary by length."""
        self._names = {k: list(dict.fromkeys(v)) for k, v in self._names.items()}
        self._stems = {k: list(dict.fromkeys(v)) for k, v in self._stems.items()}
        buckets: dict[int, list[str]] = defaultdict(list)
        for spelling in {*(k for k in self._names if k not in self._numbered), *self._stems}:
            buckets[len(spelling)].append(spelling)
        self._by_length = {k: tuple(sorted(v)) for k, v in buckets.items()}

    def lookup(self, word: str) -> tuple[Ref, ...]:
        """Return what a spelling names exactly (case, separators and zero padding ignored)."""
        return tuple(self._names.get(compact(word), ()))

    def lookup_stem(self, word: str) -> tuple[Ref, ...]:
        """Return the numbered family of a stem ("web" -> web-01, web-02...)."""
        return tuple(self._stems.get(compact(word), ()))

    def refs_of(self, spelling: str) -> tuple[Ref, ...]:
        """Return what an indexed spelling names: the thing, else the family."""
        return tuple(self._names.get(spelling) or self._stems.get(spelling) or ())

    def fuzzy(self, word: str, *, cutoff: float = 0.6, limit: int = 5) -> list[Fuzzy]:
        """Return the closest indexed names to a misspelt ``word``, best first (difflib ratio)."""
        target = compact(word)
        if len(target) < 3:
            return []
        key = (word.lower(), cutoff)
        found = self._cache.get(key)
        if found is None:
            found = self._scan(target, cutoff)
            numbered = _SUFFIX.match(word.lower()) or _TRAILING_DIGITS.match(target)
            base = compact(numbered.group(1)) if numbered else ""
            if numbered and len(base) >= 2:
                found += self._numbered_near(target, base, numbered.group(2), cutoff)
            found = sorted({f.spelling: f for f in found}.values(), key=lambda f: (-f.score, f.spelling))
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return found[:limit]

    def _scan(self, target: str, cutoff: float) -> list[Fuzzy]:
        """Compare ``target`` with the plain vocabulary of plausible lengths."""
        shortest = max(int(len(target) * cutoff / (2 - cutoff)), 1)
        longest = int(len(target) * (2 - cutoff) / cutoff) + 1
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(target)
        found = []
        for length in range(shortest, longest + 1):
            for spelling in self._by_length.get(length, ()):
                matcher.set_seq1(spelling)
                if (matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff
                        and (score := matcher.ratio()) >= cutoff):
                    found.append(Fuzzy(round(score, 3), spelling, self.refs_of(spelling)))
        return found

    def _numbered_near(self, target: str, base: str, number: str, cutoff: float) -> list[Fuzzy]:
        """Repair "wbe-4821": find stems near "wbe", then look "web4821" up exactly."""
        found = []
        for hit in self._scan(base, cutoff):
            if hit.spelling not in self._stems:
                continue
            for digits in {number, str(int(number))}:
                spelling = hit.spelling + digits
                refs = self._names.get(spelling)
                if refs:
                    score = difflib.SequenceMatcher(None, target, spelling, autojunk=False).ratio()
                    if score >= cutoff:
                        found.append(Fuzzy(round(score, 3), spelling, tuple(refs)))
        return found
