"""A word diff of two one-line texts, as `git diff --word-diff` shows one: every deleted and
inserted word in full, a few unchanged words either side of each change, and the rest of the
unchanged text elided. The text and markdown renderers use it for a changed value too long
for `old -> new`, where cutting both sides at a fixed width hid the very part that changed.

Pure data: `diff` returns `Piece`s; `markers` spells them `[-deleted-]{+inserted+}` for
output without colour. difflib does the matching.
"""

from __future__ import annotations

import difflib
import os.path
import re
from dataclasses import dataclass
from enum import StrEnum

CONTEXT_WORDS = 3
ELLIPSIS = "…"
# Past this many tokens a side, SequenceMatcher's quadratic worst case would stall a plan:
# the diff is then one changed middle between the common prefix and suffix (still whole).
MAX_TOKENS = 2_000
# Words, runs of whitespace and single other characters: every character is in one token.
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_Run = tuple[list[str], list[str], list[str]]  # unchanged, deleted or inserted tokens


class Part(StrEnum):
    SAME = "same"
    DELETED = "deleted"
    INSERTED = "inserted"
    ELIDED = "elided"  # unchanged text left out; `Piece.text` keeps what it stands for


@dataclass(frozen=True, slots=True)
class Piece:
    part: Part
    text: str


def diff(old: str, new: str, *, context: int = CONTEXT_WORDS,
         max_tokens: int = MAX_TOKENS) -> list[Piece]:
    """`old` to `new` as pieces: SAME, ELIDED and DELETED pieces joined give `old`; SAME,
    ELIDED and INSERTED pieces joined give `new`. Only unchanged text is ever elided."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    if len(a) > max_tokens or len(b) > max_tokens:
        runs = _around_the_middle(old, new)
    else:
        runs = [(a[i1:i2], [], []) if tag == "equal" else ([], a[i1:i2], b[j1:j2])
                for tag, i1, i2, j1, j2 in
                difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()]
    pieces: list[Piece] = []
    for number, (same, deleted, inserted) in enumerate(runs):
        if same:
            pieces.extend(_context(same, context, first=number == 0,
                                   last=number == len(runs) - 1))
        if deleted:
            pieces.append(Piece(Part.DELETED, "".join(deleted)))
        if inserted:
            pieces.append(Piece(Part.INSERTED, "".join(inserted)))
    return pieces


def markers(pieces: list[Piece]) -> str:
    """The pieces as one line without colour: `[-deleted-]`, `{+inserted+}`, `…`."""
    spelled = {Part.SAME: "{}", Part.DELETED: "[-{}-]", Part.INSERTED: "{{+{}+}}"}
    return "".join(ELLIPSIS if p.part is Part.ELIDED else spelled[p.part].format(p.text)
                   for p in pieces)


def _around_the_middle(old: str, new: str) -> list[_Run]:
    """The common prefix, one changed middle, the common suffix (cut at `old`'s tokens)."""
    spans = [found.span() for found in _TOKEN.finditer(old)]
    same = len(os.path.commonprefix([old, new]))
    start = max((end for _, end in spans if end <= same), default=0)
    same = len(os.path.commonprefix([old[start:][::-1], new[start:][::-1]]))
    end = min((begin for begin, _ in spans if begin >= len(old) - same), default=len(old))
    deleted, inserted = old[start:end], new[start:len(new) - (len(old) - end)]
    runs: list[_Run] = [(_TOKEN.findall(old[:start]), [], [])] if start else []
    if deleted or inserted:
        runs.append(([], [deleted] if deleted else [], [inserted] if inserted else []))
    if end < len(old):
        runs.append((_TOKEN.findall(old[end:]), [], []))
    return runs


def _context(tokens: list[str], context: int, *, first: bool, last: bool) -> list[Piece]:
    """An unchanged run: whole when short, else `context` words kept next to each change it
    touches (after the one before it, before the one after it) and the middle elided."""
    if first and last:  # no change at all
        return [Piece(Part.SAME, "".join(tokens))] if tokens else []
    head = [] if first else _words(tokens, context)
    tail = [] if last else _words(tokens[::-1], context)[::-1]
    middle = tokens[len(head):len(tokens) - len(tail)]
    hidden = "".join(middle)
    if len(hidden) <= len(ELLIPSIS) + 2:  # eliding would not make the line shorter
        return [Piece(Part.SAME, "".join(tokens))]
    pieces = [Piece(Part.SAME, "".join(head))] if head else []
    pieces.append(Piece(Part.ELIDED, hidden))
    if tail:
        pieces.append(Piece(Part.SAME, "".join(tail)))
    return pieces


def _words(tokens: list[str], count: int) -> list[str]:
    """The start of `tokens` holding `count` words (whitespace does not count) and the space
    after them, so that `…` stands apart from the words it follows or precedes."""
    seen = 0
    for index, token in enumerate(tokens):
        if token.isspace():
            continue
        if seen == count:
            return tokens[:index]
        seen += 1
    return tokens
