"""`plan.render.worddiff` through the text renderer: a long changed value is a word diff in
which every deleted and inserted piece is on the line, and only unchanged text is elided."""

from __future__ import annotations

import re
import time

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.style import Style
from rich.text import Text

from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.plan.model import Action, Change, FieldChange, FieldOp, Plan
from reconciler.plan.render import text, worddiff

PREFIX = "      ~ description: "
Shown = list[tuple[worddiff.Part, str]]


def rendered_value(old: str, new: str, *, colour: bool) -> Text:
    """The `~ description` line of a plan changing `old` to `new`, past its prefix."""
    plan = Plan("fp", (Change(ResourceKey(Kind.AGENT, "a"), Action.UPDATE, {}, {}, (
        FieldChange("description", FieldOp.CHANGE, old, new),)),))
    lines = Text.from_markup(text.render(plan, colour=colour), emoji=False).split("\n")
    line = next(line for line in lines if line.plain.startswith(PREFIX))
    return line[len(PREFIX):]


def parse_markers(value: str) -> Shown:
    """`[-x-]`, `{+y+}`, `…` and plain text, back into pieces (ELIDED: `…`)."""
    shown: Shown = []
    for token in re.split(r"(\[-.*?-\]|\{\+.*?\+\}|…)", value):
        if token.startswith("[-") and token.endswith("-]"):
            shown.append((worddiff.Part.DELETED, token[2:-2]))
        elif token.startswith("{+") and token.endswith("+}"):
            shown.append((worddiff.Part.INSERTED, token[2:-2]))
        elif token == worddiff.ELLIPSIS:
            shown.append((worddiff.Part.ELIDED, token))
        elif token:
            shown.append((worddiff.Part.SAME, token))
    return shown


def parse_styles(value: Text) -> Shown:
    """The pieces from their styles: struck deleted, underlined inserted, dim elided."""
    shown: Shown = []
    covered = 0
    for span in sorted(value.spans, key=lambda span: span.start):
        assert span.start == covered, "every piece of the value is styled"
        covered = span.end
        style = Style.parse(str(span.style))
        part = (worddiff.Part.DELETED if style.strike else worddiff.Part.INSERTED
                if style.underline else worddiff.Part.ELIDED if style.dim
                else worddiff.Part.SAME)
        shown.append((part, value.plain[span.start:span.end]))
    assert covered == len(value.plain)
    return shown


def assert_every_change_shown(shown: Shown, old: str, new: str) -> None:
    """The line rebuilds `old` (same and deleted pieces) and `new` (same and inserted ones)
    where each `…` stands for one text, the same in both: so what it hides did not change,
    and every change is on the line."""
    old_pattern, new_pattern = [], []
    for number, (part, piece) in enumerate(shown):
        if part is worddiff.Part.ELIDED:
            old_pattern.append(f"(?P<e{number}>.+)")
            new_pattern.append(f"(?P=e{number})")
            continue
        if part is not worddiff.Part.INSERTED:
            old_pattern.append(re.escape(piece))
        if part is not worddiff.Part.DELETED:
            new_pattern.append(re.escape(piece))
    both = _json(old) + "\x00" + _json(new)  # JSON text never holds a raw NUL
    assert re.fullmatch("".join(old_pattern) + "\x00" + "".join(new_pattern), both,
                        re.DOTALL), (shown, old, new)


def _json(value: str) -> str:
    return orjson.dumps(value).decode()


def long_enough(pair: tuple[str, str]) -> bool:
    return max(len(_json(pair[0])), len(_json(pair[1]))) > 40


# Words and spaces mostly, so that long unchanged runs (and elisions) are common.
WORDS = st.sampled_from(["claim", "priority", "the", "of", "agent", "v2", "(", ")", ".", " ",
                         "  ", "\n", "\\", '"', "é", "x"])
CHUNK = st.lists(WORDS, max_size=12).map("".join)
# The same text on both sides, with some chunks replaced: realistic edits.
EDITS = st.lists(st.tuples(CHUNK, st.one_of(st.none(), CHUNK)), min_size=1, max_size=10).map(
    lambda chunks: ("".join(a for a, _ in chunks),
                    "".join(a if b is None else b for a, b in chunks)))
# Marker characters cannot be told from markers: the marker test leaves them out.
NO_MARKERS = st.text(st.characters(codec="utf-8", exclude_characters="[]{}…"), max_size=120)


@settings(max_examples=300, deadline=None)
@given(st.one_of(EDITS, st.tuples(NO_MARKERS, NO_MARKERS)).filter(long_enough))
def test_without_colour_every_deleted_and_inserted_piece_is_on_the_line(
        pair: tuple[str, str]) -> None:
    old, new = pair
    value = rendered_value(old, new, colour=False).plain
    assert_every_change_shown(parse_markers(value), old, new)


@settings(max_examples=300, deadline=None)
@given(st.one_of(EDITS, st.tuples(st.text(max_size=120), st.text(max_size=120)))
       .filter(long_enough))
def test_in_colour_every_deleted_and_inserted_piece_is_on_the_line(
        pair: tuple[str, str]) -> None:
    old, new = pair
    assert_every_change_shown(parse_styles(rendered_value(old, new, colour=True)), old, new)


def test_unchanged_text_far_from_a_change_is_elided() -> None:
    words = [f"word{n}" for n in range(40)]
    old = " ".join(words)
    new = " ".join([*words[:20], "NEW", *words[20:]])
    value = rendered_value(old, new, colour=False).plain
    assert value == "… word17 word18 word19 {+NEW +}word20 word21 word22 …"


def test_a_huge_value_is_diffed_around_its_changed_middle_at_once() -> None:
    old = " ".join(f"w{n}" for n in range(50_000))
    new = old.replace(" w25000 ", " changed ")
    started = time.perf_counter()
    pieces = worddiff.diff(_json(old), _json(new))
    assert time.perf_counter() - started < 2.0
    assert [p for p in pieces if p.part in (worddiff.Part.DELETED, worddiff.Part.INSERTED)] \
        == [worddiff.Piece(worddiff.Part.DELETED, "w25000"),
            worddiff.Piece(worddiff.Part.INSERTED, "changed")]
    assert "".join(p.text for p in pieces if p.part is not worddiff.Part.INSERTED) == _json(old)


@settings(max_examples=200, deadline=None)
@given(st.one_of(EDITS, st.tuples(st.text(max_size=80), st.text(max_size=80))),
       st.integers(min_value=0, max_value=4))
def test_past_max_tokens_the_diff_still_rebuilds_both_sides(pair: tuple[str, str],
                                                           max_tokens: int) -> None:
    old, new = pair
    pieces = worddiff.diff(old, new, max_tokens=max_tokens)
    assert "".join(p.text for p in pieces if p.part is not worddiff.Part.INSERTED) == old
    assert "".join(p.text for p in pieces if p.part is not worddiff.Part.DELETED) == new
    changed = [p for p in pieces if p.part in (worddiff.Part.DELETED, worddiff.Part.INSERTED)]
    assert bool(changed) == (old != new)
