"""`meshctl.yaml`, the project file of environments (issue 25): what it holds, where it is
found, and every mistake named with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.project import ProjectError, find, load
from tests.conftest import line_of, write

GOOD = """\
environments:
  dev:
    manifests: [manifests/base, manifests/overlays/dev]
    store: registries-dev
  prod:
    manifests:
    - manifests/base
    - manifests/overlays/prod
    store: postgresql://meshctl@db.internal/mesh
    deny_breaking: true
    max_deletes: 5
"""


def test_environments_with_their_layers_store_and_options(tmp_path: Path) -> None:
    project = load(write(tmp_path / "meshctl.yaml", GOOD))
    dev, prod = project.environment("dev"), project.environment("prod")
    # paths from the working directory, as the user would type them (for messages)
    assert [Path(p).resolve() for p in dev.manifests] == [
        tmp_path / "manifests/base", tmp_path / "manifests/overlays/dev"]
    assert dev.store is not None and Path(dev.store).resolve() == tmp_path / "registries-dev"
    assert dev.options == {}
    assert prod.store == "postgresql://meshctl@db.internal/mesh"
    assert prod.options == {"deny_breaking": True, "max_deletes": 5}
    with pytest.raises(ProjectError, match="no environment 'prd'; did you mean 'prod'"):
        project.environment("prd")


def test_found_here_or_above_but_not_beyond_the_work_tree(tmp_path: Path) -> None:
    write(tmp_path / "meshctl.yaml", GOOD)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "a" / "b").mkdir(parents=True)
    assert find(tmp_path / "repo" / "a" / "b") is None  # the work tree's root stops it
    write(tmp_path / "repo" / "meshctl.yaml", GOOD)
    assert find(tmp_path / "repo" / "a" / "b") == (tmp_path / "repo" / "meshctl.yaml").resolve()


@pytest.mark.parametrize(("text", "needle", "message"), [
    ("environment:\n  dev: {}\n", "environment:", "unknown key 'environment'; did you mean "
     "'environments'"),
    ("environments: []\n", "environments", "'environments' must map"),
    ("environments:\n  dev:\n    manifest: [m]\n", "manifest:", "unknown key 'manifest'; "
     "did you mean 'manifests'"),
    ("environments:\n  dev:\n    manifests: m\n", "manifests:", "'manifests' must list"),
    ("environments:\n  dev:\n    store: r\n", "dev:", "'manifests' must list"),
    ("environments:\n  dev:\n    manifests: [m]\n    deny_breaking: yes please\n",
     "deny_breaking", "'deny_breaking' must be true or false"),
    ("environments:\n  dev:\n    manifests: [m]\n    max_deletes: true\n", "max_deletes",
     "'max_deletes' must be a whole number"),
    ("environments:\n  ../prod:\n    manifests: [m]\n", "../prod", "environment name"),
    ("environments:\n  dev: [m\n", "dev:", "YAML syntax error"),
])
def test_each_mistake_is_named_at_its_line(tmp_path: Path, text: str, needle: str,
                                           message: str) -> None:
    path = write(tmp_path / "meshctl.yaml", text)
    with pytest.raises(ProjectError) as failed:
        load(path)
    assert str(failed.value).startswith(f"{path}:")
    assert message in str(failed.value)
    if "syntax" not in message:
        assert str(failed.value).startswith(f"{path}:{line_of(path, needle)}:")


def test_a_layer_that_is_not_a_folder_names_its_line(tmp_path: Path) -> None:
    project = load(write(tmp_path / "meshctl.yaml", GOOD))
    dev = project.environment("dev")
    (tmp_path / "manifests" / "base").mkdir(parents=True)
    write(tmp_path / "manifests" / "overlays" / "dev", "not a folder\n")
    with pytest.raises(ProjectError) as raised:
        dev.check_layers()
    line = line_of(tmp_path / "meshctl.yaml", "manifests/overlays/dev")
    assert f"meshctl.yaml:{line}: environment 'dev': layer" in str(raised.value)
    assert "is not a folder" in str(raised.value)
    (tmp_path / "manifests" / "overlays" / "dev").unlink()
    with pytest.raises(ProjectError, match="does not exist"):
        dev.check_layers()
    (tmp_path / "manifests" / "overlays" / "dev").mkdir()
    dev.check_layers()
