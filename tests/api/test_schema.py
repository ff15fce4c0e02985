"""A property-based run of schemathesis against the server's own /openapi.json: whatever
it sends, no 500 and no answer the schema does not allow (status code, content type, body).
Bounded (20 examples per operation) to keep the suite fast; the registries are a copy
of the example mesh, and every write goes through the engine like any other.

Each operation's strategy is driven by Hypothesis directly (schemathesis's pytest plugin
does not run under pytest 9)."""

from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.conftest import FIXTURE_REGISTRIES, copy_tree
from tests.servers import Server

CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]
# Examples per operation: 20 in the suite (about 700 requests); MESHCTL_API_EXAMPLES=500
# for a long run.
EXAMPLES = int(os.environ.get("MESHCTL_API_EXAMPLES", "20"))


def test_no_server_error_and_every_answer_fits_the_schema(tmp_path: Path) -> None:
    registries = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
    server = Server(registries)
    try:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        operations = [op for op in operations if op.path != "/registries/events"]
        assert len(operations) > 25
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(checks=CHECKS)

            run()
    finally:
        log = server.stop()
    assert "Traceback" not in log
