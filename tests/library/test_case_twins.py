"""A create whose id differs from a live one only by case is refused (one file on macOS and
Windows), judged from an index of folded names that follows every change: the library's
own writes, deletes, and another process's writes read back from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler import RegistryManager
from reconciler.errors import ChangeRejected


def tool(name: str) -> dict[str, Any]:
    return {"tool_id": name, "name": name, "description": "made by the test",
            "endpoint": f"/invoke/{name}", "input_schema": {"type": "object"},
            "output_schema": {"type": "object"}, "lineage_tags": []}


def refused(manager: RegistryManager, name: str) -> str:
    with pytest.raises(ChangeRejected) as error:
        manager.create_tool(tool(name))
    return str(error.value)


def test_a_case_twin_is_refused_as_the_names_change(registries: Path) -> None:
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    assert "differs only by case from 'similarity'" in refused(manager, "Similarity")
    manager.create_tool(tool("ocr_tool"))  # after the index was built: it is carried on
    assert "differs only by case from 'ocr_tool'" in refused(manager, "OCR_Tool")
    manager.delete_tool("ocr_tool")
    manager.create_tool(tool("OCR_Tool"))  # the old name is gone: no twin any more
    assert manager.get_tool("OCR_Tool") is not None
    # Another process writes: its create is read back, and judged as the library's own.
    other = RegistryManager(registries, watch=False)
    other.load_all()
    other.create_tool(tool("scanner"))
    manager.load_all()
    assert "differs only by case from 'scanner'" in refused(manager, "SCANNER")
    assert manager.get_tool("SCANNER") is None
    # The same id again is an update's business, not a twin's.
    with pytest.raises(ChangeRejected, match="already exists"):
        manager.create_tool(tool("scanner"))
    manager.close()
    other.close()
