"""`CowMap` (issue 26): a dict whose copies share what did not change. Hypothesis drives
random sets, deletes, copies and changes to copies, and holds every map to a plain dict
(order included); the copies share their base until the overlay outgrows its share."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import cowmap
from reconciler.model.cowmap import CowMap

KEYS = st.sampled_from([f"k{n}" for n in range(12)])
STEPS = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(0, 3), KEYS, st.integers()),
    st.tuples(st.just("del"), st.integers(0, 3), KEYS),
    st.tuples(st.just("pop"), st.integers(0, 3), KEYS),
    st.tuples(st.just("copy"), st.integers(0, 3)),
), max_size=80)


def same(found: CowMap[str, int], expected: dict[str, int]) -> None:
    assert list(found) == list(expected)
    assert list(found.items()) == list(expected.items())
    assert len(found) == len(expected)
    assert found == expected
    for key in [f"k{n}" for n in range(12)]:
        assert (key in found) == (key in expected)
        assert found.get(key, -1) == expected.get(key, -1)


@settings(max_examples=300, deadline=None)
@given(start=st.dictionaries(KEYS, st.integers(), max_size=8), steps=STEPS,
       overlay=st.sampled_from([0, 2, 64]))
def test_every_copy_behaves_as_a_dict_changed_apart(start: dict[str, int],
                                                     steps: list[Any], overlay: int) -> None:
    previous = cowmap.MIN_OVERLAY
    cowmap.MIN_OVERLAY = overlay  # 0: a new base laid at almost every copy
    try:
        maps: list[CowMap[str, int]] = [CowMap(dict(start))]
        models: list[dict[str, int]] = [dict(start)]
        for step in steps:
            index = step[1] % len(maps)
            found, expected = maps[index], models[index]
            if step[0] == "set":
                found[step[2]] = step[3]
                expected[step[2]] = step[3]
            elif step[0] in ("del", "pop"):
                if step[2] in expected:
                    if step[0] == "del":
                        del found[step[2]]
                        del expected[step[2]]
                    else:
                        assert found.pop(step[2]) == expected.pop(step[2])
                else:
                    assert found.pop(step[2], None) is None
            else:
                maps.append(found.copy())
                models.append(dict(expected))
            for each, model in zip(maps, models, strict=True):
                same(each, model)
    finally:
        cowmap.MIN_OVERLAY = previous


def test_a_copy_shares_the_base_until_the_overlay_outgrows_its_share() -> None:
    """What makes a write cost its change: a copy of a 10,000-entry map copies the few
    changes made since its base was laid, not the 10,000 entries."""
    first: CowMap[str, int] = CowMap({f"k{n}": n for n in range(10_000)})
    current = first
    for n in range(10_000 // 32):
        current = current.copy()
        current[f"k{n}"] = -n
        assert current._base is first._base  # noqa: SLF001 (the sharing is the point)
    current = current.copy()
    current["new"] = 1
    current = current.copy()
    assert current._base is not first._base  # noqa: SLF001 (a new base, laid once)
    assert current["k0"] == 0 and current["k1"] == -1 and list(current)[-1] == "new"
    assert first["k1"] == 1 and "new" not in first and len(first) == 10_000


class Decoding(CowMap[str, int]):
    """A map whose base keeps text, turned into a number when first asked for."""

    __slots__ = ("decoded",)

    def __init__(self, base: dict[str, Any] | None = None) -> None:
        super().__init__(base)
        self.decoded: list[str] = []

    def _empty(self) -> Decoding:
        return Decoding()

    def _resolve(self, key: str, raw: Any) -> int:
        if isinstance(raw, int):
            return raw
        self.decoded.append(key)
        self._base[key] = int(raw)
        return int(raw)


def test_raw_values_are_resolved_when_first_asked_for_and_stay_raw_in_a_new_base() -> None:
    found = Decoding({f"k{n}": str(n) for n in range(100)})
    assert found["k5"] == 5 and found["k5"] == 5 and found.decoded == ["k5"]
    for n in range(200):
        copied = found.copy()  # so many changes that new bases are laid
        assert isinstance(copied, Decoding)
        found = copied
        found[f"new{n}"] = n
    assert found.decoded == [] and found["k7"] == 7 and found.decoded == ["k7"]
    assert sum(1 for _, raw in found.raw_items() if isinstance(raw, str)) == 98
