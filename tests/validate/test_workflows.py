"""Workflow rules: transitions, prior outputs, termination, reachability, step ids (W001-W005)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import engine
from reconciler.errors import Severity
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey
from reconciler.validate.workflows import TERMINAL_OUTCOMES, check_workflow
from tests.conftest import FIXTURE_REGISTRIES, by_code, codes, dedent, line_of, manifest, only

Case = Callable[[str], tuple[Path, engine.DesiredState]]


def workflow(steps: str) -> str:
    return manifest("Workflow", "w1", "name: W\ndescription: d\nsteps:\n" + dedent(steps))


def test_a_linear_workflow_passes(case: Case) -> None:
    _, desired = case(workflow("""
        - step_id: a
          agent_id: intake_agent
          on_success: b
          on_failure: terminate_with_error
        - step_id: b
          agent_id: fraud_agent
          on_success: complete
          on_failure: complete_with_warning
          context_compilation:
            include_prior_outputs: [a]
        """))
    assert desired.diagnostics == []


def test_the_fixture_workflow_passes() -> None:
    live = engine.load_live(FIXTURE_REGISTRIES)
    resource = live.state.get(ResourceKey(Kind.WORKFLOW, "claims_triage"))
    assert resource is not None
    assert check_workflow(resource) == []


def test_implicit_transitions_follow_the_sequence(case: Case) -> None:
    # No on_success: the next step in sequence order (the last completes);
    # steps listed out of order run by `sequence`.
    _, desired = case(workflow("""
        - step_id: second
          agent_id: fraud_agent
          sequence: 2
          context_compilation:
            include_prior_outputs: [first]
        - step_id: first
          agent_id: intake_agent
          sequence: 1
        """))
    assert desired.diagnostics == []


@pytest.mark.parametrize("outcome", TERMINAL_OUTCOMES)
def test_every_terminal_outcome_is_a_valid_transition(case: Case, outcome: str) -> None:
    _, desired = case(workflow(f"""
        - step_id: a
          agent_id: fraud_agent
          on_success: {outcome}
          on_failure: {outcome}
        """))
    assert desired.diagnostics == []


@pytest.mark.parametrize("transition", ["on_success", "on_failure"])
def test_a_transition_to_nowhere_is_w001(case: Case, transition: str) -> None:
    other = "on_failure" if transition == "on_success" else "on_success"
    path, desired = case(workflow(f"""
        - step_id: intake
          agent_id: intake_agent
          {other}: complete
          {transition}: complet
        """))
    diagnostic = only(desired.diagnostics, "W001")
    assert diagnostic.severity is Severity.ERROR
    assert (diagnostic.file, diagnostic.line) == (str(path),
                                                  line_of(path, f"{transition}: complet"))
    assert diagnostic.path == f"steps[0].{transition}"
    assert f"{transition} goes to 'complet'" in diagnostic.message
    assert diagnostic.hint is not None
    assert "did you mean 'complete'?" in diagnostic.hint
    assert "complete, complete_with_warning, terminate_with_error" in diagnostic.hint


def test_include_prior_outputs_of_a_later_step_is_w002(case: Case) -> None:
    path, desired = case(workflow("""
        - step_id: a
          agent_id: intake_agent
          context_compilation:
            include_prior_outputs: [b]
        - step_id: b
          agent_id: fraud_agent
        """))
    diagnostic = only(desired.diagnostics, "W002")
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.path == "steps[0].context_compilation.include_prior_outputs[0]"
    assert diagnostic.line == line_of(path, "include_prior_outputs")
    assert "'b', which does not run before it" in diagnostic.message


def test_include_prior_outputs_of_itself_or_an_unknown_step_is_w002(case: Case) -> None:
    path, desired = case(workflow("""
        - step_id: a
          agent_id: intake_agent
        - step_id: b
          agent_id: fraud_agent
          context_compilation:
            include_prior_outputs:
            - a
            - b
            - intke
        """))
    found = by_code(desired.diagnostics, "W002")
    assert [(d.path, d.line) for d in found] == [
        ("steps[1].context_compilation.include_prior_outputs[1]", line_of(path, "- b")),
        ("steps[1].context_compilation.include_prior_outputs[2]", line_of(path, "- intke")),
    ]
    assert "'intke', which is not a step of this workflow" in found[1].message


def test_steps_that_cannot_reach_a_terminal_outcome_are_w003(case: Case) -> None:
    path, desired = case(workflow("""
        - step_id: a
          agent_id: intake_agent
          on_success: b
          on_failure: b
        - step_id: b
          agent_id: fraud_agent
          on_success: a
          on_failure: a
        """))
    found = by_code(desired.diagnostics, "W003")
    assert [(d.path, d.line, d.severity) for d in found] == [
        ("steps[0]", line_of(path, "step_id: a"), Severity.ERROR),
        ("steps[1]", line_of(path, "step_id: b"), Severity.ERROR),
    ]
    assert "no path reaches a terminal outcome" in found[0].message


def test_a_loop_with_an_exit_is_not_w003(case: Case) -> None:
    _, desired = case(workflow("""
        - step_id: a
          agent_id: intake_agent
          on_success: b
          on_failure: a
        - step_id: b
          agent_id: fraud_agent
          on_success: a
          on_failure: complete_with_warning
        """))
    assert "W003" not in codes(desired.diagnostics)
    assert desired.errors == []


def test_an_unreachable_step_is_a_w004_warning(case: Case) -> None:
    path, desired = case(workflow("""
        - step_id: start
          agent_id: intake_agent
          on_success: complete
        - step_id: orphan
          agent_id: fraud_agent
        """))
    diagnostic = only(desired.diagnostics, "W004")
    assert diagnostic.severity is Severity.WARNING
    assert (diagnostic.path, diagnostic.line) == ("steps[1]", line_of(path, "step_id: orphan"))
    assert "step 'orphan' is never reached from the first step 'start'" in diagnostic.message
    assert desired.errors == []


def test_a_step_id_used_twice_is_w005(case: Case) -> None:
    path, desired = case(workflow("""
        - step_id: a
          agent_id: intake_agent
        - step_id: b
          agent_id: fraud_agent
          context_compilation:
            include_prior_outputs: [a]
        - step_id: a
          agent_id: fraud_agent
        """))
    diagnostic = only(desired.diagnostics, "W005")
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.path == "steps[2].step_id"
    assert diagnostic.line == line_of(path, "step_id: a", 2)
    assert "(steps[0] and steps[2])" in diagnostic.message
    # `a` does run before `b`: the duplicate must not turn that into a W002 too.
    assert "W002" not in codes(desired.diagnostics)


def test_rules_skip_what_they_cannot_read() -> None:
    resource = Resource(ResourceKey(Kind.WORKFLOW, "w"), {
        "workflow_id": "w", "name": "W",
        "steps": ["junk", {"agent_id": "x"}, {"step_id": "a", "on_success": 3,
                                              "context_compilation": {
                                                  "include_prior_outputs": [1, "a"]}}]})
    assert [d.code for d in check_workflow(resource)] == ["W002"]
    assert check_workflow(Resource(ResourceKey(Kind.WORKFLOW, "w"), {"steps": "none"})) == []
    assert check_workflow(Resource(ResourceKey(Kind.AGENT, "a"), {"steps": []})) == []
