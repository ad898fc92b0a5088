"""From raw text to tagged tokens: contractions, filler, phrases, names, numbers and typos."""

from __future__ import annotations

import difflib
import re
import shlex
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jarvis.plugins.llm_rules import lexicon as lx
from jarvis.plugins.llm_rules.world import Fuzzy, Ref, World, compact

NAME, NUM, AMOUNT, ADDR, TAG, WORD = "name", "num", "amount", "addr", "tag", "word"
STRONG, WEAK = 0.78, 0.6  # difflib ratios: a sure typo, and a guess worth asking about

_CONTRACTIONS: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    (r"\bwon'?t\b", "will not"), (r"\bcan'?t\b", "can not"), (r"\bcannot\b", "can not"), (r"n't\b", " not"),
    (r"\b(dont|doesnt|didnt|isnt|arent|wasnt|shouldnt|wouldnt|couldnt|havent|hasnt)\b",
     lambda m: m.group(1)[:-2] + " not"),
    (r"\b(what|where|who|how|that|it|there|here|which|when|whats|wheres|hows|whos)'s\b", r"\1 is"),
    (r"\b(whats|wheres|hows|whos|thats)\b", lambda m: m.group(1)[:-1] + " is"),
    (r"\bi'?m\b", "i am"), (r"'re\b", " are"), (r"'ll\b", " will"), (r"'d\b", " would"), (r"'ve\b", " have"),
    (r"'s\b", ""), (r"\blet'?s\b", "let us"),
]
_COMPILED = [(re.compile(p), r) for p, r in _CONTRACTIONS]
_PREFIXED_ID = re.compile(r"\b(vm|ct|lxc|guest|vmid|qemu|kvm|id)[-_#:/]?(\d{3,9})\b")
_NODE_NUMBER = re.compile(r"\bnode[-_]?(\d{1,3})\b")
_TIME = re.compile(r"\b(?:in \d+\s*(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|days?)|"
                   r"at \d{1,2}(?::\d{2})?\s*(?:am|pm|h)?|at \d{1,2}(?:am|pm))\b")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9._:/@-]*[a-z0-9]|[a-z0-9]|[?&+,;]")
_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_HOSTNAME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_COUNT_BEFORE = {"top", "last", "tail", "first", "latest", "recent"}
_COUNT_AFTER = {"lines", "line", "entries", "rows", "items"}
_COMMANDS = frozenset(
    "uptime df free top htop ls cat uname ps systemctl journalctl zpool zfs pvesm pvecm pvesh qm pct ip ss lsblk "
    "sensors dmesg hostname date whoami apt apt-get pveversion ceph du iostat vmstat lscpu lsusb lspci nproc "
    "who w last uptime.sh smartctl nvme mount findmnt ethtool tail head grep echo id env netstat pveperf "
    "pve-efiboot-tool proxmox-boot-tool reboot shutdown poweroff".split()
)


@dataclass(slots=True)
class Tok:
    """One tagged piece of the request."""

    kind: str
    value: Any
    text: str
    pos: int
    refs: tuple[Ref, ...] = ()
    score: float = 1.0
    stem: bool = False
    near: list[Fuzzy] = field(default_factory=list)


def normalize(text: str) -> str:
    """Lowercase, fold unicode quotes, drop emoji and expand contractions ("don't" -> "do not")."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = text.lower().replace("`", " ").replace('"', " ")
    for pattern, repl in _COMPILED:
        text = pattern.sub(repl, text)
    text = text.replace("'", " ")
    text = _PREFIXED_ID.sub(r"\1 \2", text)
    text = _NODE_NUMBER.sub(r"node \1", text)  # "node1" -> "node 1" (a thing named node1 still matches)
    text = _TIME.sub(" later ", text)
    return re.sub(r"#(\d)", r"\1", text)


def tokenize(text: str) -> list[str]:
    """Split normalized text into words, keeping names like web-01, 10.0.0.1 and aa:bb:..:ff whole."""
    return _TOKEN.findall(text)


# Phrasal verbs split by their object: "bring win11 back online" reads as "bring back online win11".
_PHRASAL = {
    "bring": {"up", "down", "back", "online", "offline"}, "turn": {"on", "off"}, "switch": {"on", "off"},
    "power": {"on", "off", "up", "down"}, "shut": {"down", "off"}, "spin": {"up", "down"}, "fire": {"up"},
    "take": {"down", "offline"}, "boot": {"up"}, "wake": {"up"}, "put": {"online", "offline"},
    "start": {"up"}, "cut": {"off"}, "get": {"running", "going", "started"},
}
_PARTICLE_END = {"on", "off"}  # these move only from the end of a clause ("turn web-01 on")


def unsplit_phrasals(words: list[str]) -> list[str]:
    """Move a phrasal verb's particles next to it: ["turn", "web-01", "on"] -> ["turn", "on", "web-01"]."""
    out = list(words)
    for i, word in enumerate(out):
        particles = _PHRASAL.get(word)
        if not particles or i + 1 < len(out) and out[i + 1] in particles:
            continue
        for j in range(i + 2, min(i + 5, len(out))):
            if out[j] in (",", ";", "and", "then", "?"):
                break
            if out[j] in particles:
                last = j + 1 == len(out) or out[j + 1] in (",", ";", "and", "then", "?", "please", "pls", "now")
                if out[j] in _PARTICLE_END and not last:
                    break
                end = j + 1
                if out[j] == "back" and end < len(out) and out[end] in ("up", "online"):
                    end += 1
                moved = out[j:end]
                del out[j:end]
                out[i + 1:i + 1] = moved
                break
    return out


def tag(words: list[str], world: World) -> list[Tok]:
    """Tag words: multi-word names, lexicon phrases, names, numbers, addresses; then repair typos."""
    words = unsplit_phrasals(words)
    toks: list[Tok] = []
    i, n = 0, len(words)
    while i < n:
        found = _multiword_name(words, i, world) or _phrase(words, i) or _single(words, i, world)
        if found is None:
            i += 1
            continue
        tok, width = found
        if tok.kind != lx.FILLER:
            toks.append(tok)
        i += width
    _repair_typos(toks, world)
    return toks


def _multiword_name(words: list[str], i: int, world: World) -> tuple[Tok, int] | None:
    for width in (3, 2):
        if i + width <= len(words):
            chunk = words[i:i + width]
            if any(w in ",;&+?" for w in chunk):
                continue
            refs = world.lookup("".join(chunk))
            if refs:
                return Tok(NAME, compact("".join(chunk)), " ".join(chunk), i, refs), width
    return None


def _phrase(words: list[str], i: int) -> tuple[Tok, int] | None:
    for width in range(min(lx.LONGEST_PHRASE, len(words) - i), 0, -1):
        hit = lx.LEXICON.get(tuple(words[i:i + width]))
        if hit is not None:
            kind, value = hit
            return Tok(kind, value, " ".join(words[i:i + width]), i), width
    if words[i] in ",;&+":
        return Tok(lx.CONJ, "and", words[i], i), 1
    if words[i] == "?":
        return Tok(lx.QWORD, "?", "?", i), 1
    return None


def _single(words: list[str], i: int, world: World) -> tuple[Tok, int] | None:
    word = words[i]
    refs = world.lookup(word)
    if refs:
        return Tok(NAME, compact(word), word, i, refs), 1
    if word.isdigit():
        before = words[i - 1] if i else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        counted = before in _COUNT_BEFORE or after in _COUNT_AFTER or (int(word) < 100 and before not in {
            "node", "pve", "nodes"})
        return Tok(AMOUNT if counted else NUM, int(word), word, i), 1
    stem = world.lookup_stem(word)
    if stem:
        return Tok(NAME, compact(word), word, i, stem, stem=True), 1
    if word in lx.SERVICES or word.endswith(".service"):
        return Tok(WORD, word, word, i), 1
    if _MAC.match(word) or _IP.match(word) or _HOSTNAME.match(word) or word.startswith("upid:"):
        return Tok(ADDR, word, word, i), 1
    if word in world.tags:
        return Tok(TAG, word, word, i), 1
    if word in lx.STOPWORDS:
        return None
    return Tok(WORD, word, word, i), 1


def _repair_typos(toks: list[Tok], world: World) -> None:
    """Turn unknown words into the verb, word or name they most likely misspell."""
    has_verb = any(t.kind == lx.VERB for t in toks)
    for tok in toks:
        if tok.kind != WORD or len(tok.text) < 3 or tok.text in lx.SERVICES or tok.text.endswith(".service"):
            continue
        near = world.fuzzy(tok.text, cutoff=WEAK)
        word_hit = _fuzzy_word(tok.text, allow_verbs=not has_verb)
        best_name = near[0].score if near else 0.0
        if word_hit and word_hit[0] >= max(best_name, STRONG):
            tok.kind, tok.value = word_hit[1]
            tok.score = word_hit[0]
            has_verb = has_verb or tok.kind == lx.VERB
        elif near and best_name >= STRONG and (len(near) == 1 or near[1].score < best_name
                                                or near[1].refs == near[0].refs):
            tok.kind, tok.value, tok.refs, tok.score = NAME, near[0].spelling, near[0].refs, best_name
        else:
            tok.near = near


_FUZZY_KINDS = {lx.VERB, lx.QUAL, lx.METRIC, lx.STATE, lx.TOPIC, lx.HELP}
_FUZZY_WORDS: dict[str, tuple[str, str]] = {
    words[0]: hit for words, hit in lx.LEXICON.items()
    if len(words) == 1 and hit[0] in _FUZZY_KINDS and len(words[0]) >= 4
}
_FUZZY_LIST = sorted(_FUZZY_WORDS)


def _fuzzy_word(word: str, *, allow_verbs: bool) -> tuple[float, tuple[str, str]] | None:
    """Return (ratio, (kind, value)) of the lexicon word closest to a misspelling, if close enough."""
    if len(word) < 4:
        return None
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(word)
    best: tuple[float, str] | None = None
    for candidate in _FUZZY_LIST:
        if abs(len(candidate) - len(word)) > 2 or not allow_verbs and _FUZZY_WORDS[candidate][0] == lx.VERB:
            continue
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() < STRONG or matcher.quick_ratio() < STRONG:
            continue
        score = matcher.ratio()
        needed = STRONG if _FUZZY_WORDS[candidate][0] == lx.VERB else 0.85  # a wrong qualifier misleads more
        if score >= needed and (best is None or score > best[0]):
            best = (score, candidate)
    return (best[0], _FUZZY_WORDS[best[1]]) if best else None


# -- commands for ssh.exec / ssh.pct_exec ----------------------------------------------------------

_Q = "`'\"\u2018\u2019\u201c\u201d"
_QUOTED = re.compile(f"[{_Q}](?P<cmd>[^{_Q}]+)[{_Q}]")
_RUN_ON = re.compile(
    r"\b(?:run|execute|exec)\s+(?:the\s+|a\s+)?(?:command\s+|cmd\s+)?(?P<cmd>.+?)\s+"
    r"(?:on|in|inside|at|within)\s+(?:the\s+)?(?:node\s+|host\s+|ct\s+|lxc\s+|container\s+|vm\s+|guest\s+)?"
    r"(?P<target>all\s+nodes|every\s+node|all\s+hosts|everywhere|[\w.#-]+)\s*[.!?]*\s*$", re.IGNORECASE)
_ON_RUN = re.compile(
    r"^\s*(?:on|in|inside)\s+(?:the\s+)?(?:node\s+|host\s+|ct\s+|container\s+)?(?P<target>[\w.#-]+)\s*[,:]?\s+"
    r"(?:please\s+)?(?:run|execute|exec)\s+(?:the\s+)?(?:command\s+)?(?P<cmd>.+?)\s*[.!?]*$", re.IGNORECASE)
_SSH = re.compile(
    r"^\s*ssh\s+(?:into\s+|to\s+|on\s+)?(?P<target>[\w.-]+)\s+(?:and\s+)?(?:run\s+|execute\s+)?(?P<cmd>.+?)\s*$",
    re.IGNORECASE)
_RUN_ALONE = re.compile(r"\b(?:run|execute|exec)\s+(?:the\s+)?(?:command\s+)?(?P<cmd>.+?)\s*[.!?]*$", re.IGNORECASE)
# Commands typed bare, without "run" ("df -h on pve1"): only words that are no English, or with a flag.
_BARE_COMMANDS = frozenset(
    "df zpool zfs pvesm pvecm pvesh qm pct lsblk dmesg journalctl pveversion smartctl ethtool iostat vmstat lscpu "
    "findmnt netstat pveperf sensors uname nvme ceph du lsusb lspci".split()
)
_BARE = re.compile(
    r"^\s*(?P<cmd>[a-z][\w.-]*(?:\s+\S+)*?)\s+(?:on|at)\s+(?:the\s+)?(?:node\s+|host\s+)?(?P<target>[\w.#-]+)"
    r"\s*[.!?]*\s*$", re.IGNORECASE)
_POLITE = re.compile(
    r"^\s*(?:(?:hey|hi|ok|okay|yo)\s+)?(?:jarvis[,:]?\s+)?(?:(?:please|pls|kindly|can you|could you|would you|"
    r"will you|go ahead and|i need you to|i want you to)\s+)*|(?:[,\s]+(?:please|pls|thanks|thank you|thx|"
    r"for me|now))+[.!?]*\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Command:
    """A program to run (argv) and the spelling of where ("pve1", "104"), None when not said."""

    argv: tuple[str, ...]
    target: str | None
    rest: str  # the request without the command (names and verbs stay)


_TRAILING_TIME = re.compile(r"\s+(?:later|tonight|tomorrow|at night|overnight|in \d+\s*\w+|at \d{1,2}(?::\d\d)?"
                            r"\s*(?:am|pm)?)\s*[.!?]*\s*$", re.IGNORECASE)


def split_command(text: str) -> Command | None:
    """Find a shell command in a request ("run df -h on pve1", "on pve2 run `uptime`"); None if none."""
    plain = _POLITE.sub(" ", text).strip()
    when = _TRAILING_TIME.search(plain)
    if when is not None:  # "run apt upgrade on pve1 tonight": the time is not part of the command
        found = split_command(plain[: when.start()])
        return None if found is None else Command(found.argv, found.target, found.rest + " " + when.group(0))
    quoted = _QUOTED.search(plain)
    for pattern in (_SSH, _ON_RUN, _RUN_ON):
        match = pattern.search(plain)
        if match:
            cmd = quoted.group("cmd") if quoted else match.group("cmd")
            argv = _argv(cmd)
            if argv and (pattern is not _SSH or quoted or argv[0] in _COMMANDS):
                rest = plain[: match.start()] + " run on " + match.group("target")
                return Command(argv, match.group("target").lstrip("#"), rest)
    if quoted and re.search(r"\b(run|execute|exec)\b", plain, re.IGNORECASE):
        argv = _argv(quoted.group("cmd"))
        if argv:
            return Command(argv, None, plain.replace(quoted.group(0), " "))
    match = _BARE.match(plain)
    if match:
        argv = _argv(match.group("cmd"))
        flagged = argv and argv[0] in _COMMANDS and any(a.startswith("-") for a in argv[1:])
        if argv and (argv[0] in _BARE_COMMANDS or flagged):
            return Command(argv, match.group("target").lstrip("#"), "run on " + match.group("target"))
    match = _RUN_ALONE.search(plain)
    if match:
        argv = _argv(match.group("cmd"))
        if argv and argv[0] in _COMMANDS:
            return Command(argv, None, plain[: match.start()] + " run")
    return None


def _argv(cmd: str) -> tuple[str, ...]:
    cmd = cmd.strip().strip("`'\"").strip()
    try:
        return tuple(shlex.split(cmd))
    except ValueError:
        return tuple(cmd.split())
