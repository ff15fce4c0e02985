"""The plan's table of defaults says what the pydantic models say."""

from __future__ import annotations

import pytest

from reconciler.model import specs
from reconciler.model.defaults import DEFAULTS
from reconciler.model.kinds import Kind


@pytest.mark.parametrize("kind", list(Kind))
def test_the_defaults_table_matches_the_models(kind: Kind) -> None:
    model = specs.SPEC_MODELS[kind]
    declared = {name: info.get_default(call_default_factory=True)
                for name, info in model.model_fields.items() if not info.is_required()}
    assert DEFAULTS[kind] == declared
    # the same types too: 30 is not 30.0, False is not 0
    assert [type(v) for v in DEFAULTS[kind].values()] == [type(v) for v in declared.values()]
