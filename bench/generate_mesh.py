"""Generate a large, valid AgentMesh mesh shaped like the example registries.

    python bench/generate_mesh.py --agents 10000 --tools 2000 --profiles 20 --workflows 200 \\
        --out DIR [--seed N]

writes DIR/registries/ (the AgentMesh JSON layout, indent=2 like the upstream files) and
DIR/manifests/ (one YAML file per resource, written by `reconciler.manifests.export`, so
exactly what `meshctl export --registries DIR/registries --out DIR/manifests` writes).

Every entry starts from an entry of the example registries in registries/ (agents from the
six claim-handling agents and the orchestrator, tools, model profiles, the claims_triage
workflow, the nine governance policies) and is varied per resource: distinct ids, descriptions,
tool and profile choices, output schemas with renamed properties and changed enums, 3-8 step
workflows with forward on_success/on_failure chains. The result validates with zero errors.
The same arguments and seed always give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout: import the working tree
    sys.path.insert(0, str(ROOT))

from reconciler.manifests.export import export_resources  # noqa: E402
from reconciler.model.kinds import ORCHESTRATOR_ID  # noqa: E402
from reconciler.model.resource import Resource  # noqa: E402
from reconciler.store.registry_files import read_live_state  # noqa: E402

FIXTURE = ROOT / "registries"
MARKER = "generated-mesh.json"  # written into DIR; marks it as ours (safe to regenerate)
LAST_UPDATED = "2025-12-22T10:00:00Z"
ORCHESTRATED = 50  # agents the orchestrator lists beside those the workflows run

Json = dict[str, Any]

DOMAINS = (
    "motor", "property", "marine", "travel", "health", "liability", "cyber", "crop", "pet",
    "life", "workers_comp", "aviation", "commercial", "homeowners", "flood", "casualty",
)
REGIONS = ("EMEA", "North America", "LATAM", "APAC", "Nordics", "DACH", "UK & Ireland",
           "Iberia", "Benelux", "ANZ")
CHANNELS = ("broker-submitted", "direct", "embedded-partner", "call-centre", "mobile-app",
            "bulk-upload", "reinsurance")
QUALIFIERS = (
    "Escalates to a human reviewer when confidence is low.",
    "Prefers deterministic tool results over free-text reasoning.",
    "Flags missing evidence instead of guessing.",
    "Keeps every figure traceable to a tool output.",
    "Runs under the regional data-residency rules.",
    "Tuned for high-volume, low-complexity files.",
    "Handles large-loss and catastrophe-event files.",
    "Cross-checks policy wording before concluding.",
    "Writes its rationale for audit in plain language.",
    "Respects the per-session tool invocation budget.",
)
PROCESSES = ("claims_triage", "first_notice_of_loss", "fraud_review", "subrogation",
             "large_loss_review", "catastrophe_intake", "reopened_claim", "litigation_review")
EXTRA_TYPES: tuple[Json, ...] = (
    {"type": "string"},
    {"type": "number", "minimum": 0},
    {"type": "integer", "minimum": 0},
    {"type": "boolean"},
    {"type": "array", "items": {"type": "string"}},
    {"type": "object"},
)
EXTRA_NAMES = ("notes", "reference", "score", "flags", "region_code", "audit_trail",
               "source_refs", "reviewer_hint", "currency", "confidence_band", "jurisdiction",
               "evidence_ids", "override_reason", "sla_hours")
ROLE_ORDER = ("intake", "coverage", "fraud", "severity", "recommendation", "explainability")
ROLE_TOOL_FAMILIES = {  # which fixture tools an agent of each role usually calls
    "intake": ("schema_validator",),
    "coverage": ("policy_snapshot", "coverage_rules"),
    "fraud": ("fraud_rules", "similarity"),
    "severity": ("similarity",),
    "recommendation": ("decision_rules",),
    "explainability": ("schema_validator", "decision_rules"),
}


@dataclass(frozen=True, slots=True)
class MeshSpec:
    agents: int = 10_000
    tools: int = 2_000
    profiles: int = 20
    workflows: int = 200
    seed: int = 42


DEFAULT_SPEC = MeshSpec()


def _copy(value: Any) -> Any:
    """A deep copy of plain JSON data (orjson round trip: much faster than copy.deepcopy)."""
    return orjson.loads(orjson.dumps(value))


def _fixture(name: str) -> Json:
    data: Json = json.loads((FIXTURE / name).read_text(encoding="utf-8"))
    return data


def _role(agent_id: str) -> str:
    return agent_id.removesuffix("_agent")


def _title(text: str) -> str:
    return text.replace("_", " ").title()


class Generator:
    def __init__(self, spec: MeshSpec) -> None:
        if spec.agents < 8 or spec.tools < 6 or spec.profiles < 1 or spec.workflows < 1:
            raise ValueError("need at least 8 agents, 6 tools, 1 profile and 1 workflow")
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.agent_file = _fixture("agent_registry.json")
        self.tool_file = _fixture("tool_registry.json")
        self.profile_file = _fixture("model_profiles.json")
        self.policy_file = _fixture("governance_policies.json")
        self.workflow_template = _fixture("workflows/claims_triage.json")
        agents = self.agent_file["agents"]
        self.orchestrator_template: Json = next(
            a for a in agents if a["agent_id"] == ORCHESTRATOR_ID)
        self.agent_templates: list[Json] = [a for a in agents if a["agent_id"] != ORCHESTRATOR_ID]
        self.step_templates: dict[str, Json] = {
            s["agent_id"]: s for s in self.workflow_template["steps"]}

    # -- model profiles ------------------------------------------------------------------------

    def profiles(self) -> list[Json]:
        rng, templates = self.rng, self.profile_file["profiles"]
        out: list[Json] = []
        for number in range(self.spec.profiles):
            template = templates[number % len(templates)]
            profile = _copy(template)
            variant = number // len(templates) + 1
            profile["profile_id"] = f"{template['profile_id']}_v{variant:02d}"
            profile["name"] = f"{template['name']} (variant {variant})"
            profile["description"] = (f"{template['description']}; tuned for "
                                      f"{rng.choice(DOMAINS).replace('_', ' ')} workloads")
            parameters = profile["parameters"]
            parameters["temperature"] = round(rng.uniform(0.0, 0.7), 1)
            parameters["max_tokens"] = rng.choice((1000, 2000, 3000, 4000))
            profile["timeout_seconds"] = rng.choice((30, 45, 60, 90, 120))
            profile["retry_policy"]["max_retries"] = rng.randint(1, 5)
            out.append(profile)
        return out

    # -- tools ---------------------------------------------------------------------------------

    def tools(self) -> list[Json]:
        rng, templates = self.rng, self.tool_file["tools"]
        width = max(4, len(str(self.spec.tools - 1)))
        out: list[Json] = []
        for number in range(self.spec.tools):
            template = templates[number % len(templates)]
            domain = rng.choice(DOMAINS)
            tool = _copy(template)
            tool_id = f"{template['tool_id']}_{number:0{width}d}"
            tool["tool_id"] = tool_id
            tool["name"] = f"{template['name']} ({_title(domain)} #{number})"
            tool["description"] = (
                f"{template['description']} Scoped to {domain.replace('_', ' ')} claims "
                f"({rng.choice(CHANNELS)}).")
            tool["endpoint"] = f"/invoke/{tool_id}"
            properties = tool["input_schema"]["properties"]
            if rng.random() < 0.5:
                properties[f"{domain}_context"] = {
                    "type": "object", "description": f"Optional {domain} specific context"}
            if rng.random() < 0.3:
                properties["request_id"] = {"type": "string", "description": "Caller trace id"}
            output = tool.get("output_schema")
            if isinstance(output, dict) and rng.random() < 0.6:
                extra = rng.choice(EXTRA_NAMES)
                output["properties"][extra] = _copy(rng.choice(EXTRA_TYPES))
            tool["lineage_tags"] = [*template["lineage_tags"], domain]
            out.append(tool)
        return out

    # -- agents --------------------------------------------------------------------------------

    def agents(self, tools: list[Json], profiles: list[Json]) -> list[Json]:
        rng = self.rng
        tool_ids = [t["tool_id"] for t in tools]
        by_family: dict[str, list[str]] = {}  # fixture tool id -> the tools made from it
        for tool in tools:
            by_family.setdefault(tool["tool_id"].rsplit("_", 1)[0], []).append(tool["tool_id"])
        profile_ids = [p["profile_id"] for p in profiles]
        width = max(5, len(str(self.spec.agents - 1)))
        out: list[Json] = []
        for number in range(self.spec.agents - 1):
            template = self.agent_templates[number % len(self.agent_templates)]
            role = _role(template["agent_id"])
            domain = rng.choice(DOMAINS)
            agent = _copy(template)
            agent["agent_id"] = f"{domain}_{role}_{number:0{width}d}_agent"
            agent["name"] = f"{template['name']} - {_title(domain)} {number}"
            agent["description"] = (
                f"{template['description'].rstrip('.')} ({domain.replace('_', ' ')}, "
                f"{rng.choice(REGIONS)}, {rng.choice(CHANNELS)}).")
            if rng.random() < 0.3:
                agent["description"] += f" {rng.choice(QUALIFIERS)}"
            if rng.random() < 0.4:
                agent["capabilities"].append(f"{domain}_expertise")
            chosen: list[str] = []
            preferred = [by_family[t] for t in ROLE_TOOL_FAMILIES[role] if by_family.get(t)]
            for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 4))):
                pool = rng.choice(preferred) if preferred and rng.random() < 0.7 else tool_ids
                pick = rng.choice(pool)
                if pick not in chosen:
                    chosen.append(pick)
            agent["allowed_tools"] = chosen
            agent["model_profile_id"] = rng.choice(profile_ids)
            agent["max_iterations"] = max(1, min(10, template["max_iterations"]
                                                 + rng.randint(-1, 2)))
            agent["iteration_timeout_seconds"] = rng.choice((30, 30, 45, 60, 90))
            self._vary_schema(agent["output_schema"], domain)
            context = agent["context_requirements"]
            context["max_context_tokens"] = rng.choice((3000, 4000, 5000, 6000, 8000))
            out.append(agent)
        orchestrator = _copy(self.orchestrator_template)
        orchestrator["model_profile_id"] = profile_ids[0]
        sample = rng.sample(range(len(out)), min(ORCHESTRATED, len(out)))
        orchestrator["allowed_agents"] = [out[i]["agent_id"] for i in sorted(sample)]
        return [orchestrator, *out]

    def _vary_schema(self, schema: Json, domain: str) -> None:
        """Change a schema the way teams drift from a shared template; it stays Draft 7."""
        rng = self.rng
        properties: Json = schema["properties"]
        required: list[str] = schema.setdefault("required", [])
        fixed = {"agent_id", "timestamp", "version"}
        names = [n for n in properties if n not in fixed]
        if names and rng.random() < 0.6:  # rename a property (and its required entry)
            old = rng.choice(names)
            new = f"{old}_{rng.choice(('v2', domain, 'ext', 'final'))}"
            schema["properties"] = properties = {
                (new if k == old else k): v for k, v in properties.items()}
            schema["required"] = required = [new if r == old else r for r in required]
        enums = [p for p in properties.values() if isinstance(p, dict) and "enum" in p]
        for prop in enums:
            choice = rng.random()
            if choice < 0.35 and len(prop["enum"]) > 2:
                dropped = rng.choice(prop["enum"])
                prop["enum"] = [v for v in prop["enum"] if v != dropped]
            elif choice < 0.7:
                prop["enum"] = [*prop["enum"], f"{domain}_review"]
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):  # extra, sometimes required, properties
            name = f"{rng.choice(EXTRA_NAMES)}_{rng.randint(1, 99)}"
            properties[name] = _copy(rng.choice(EXTRA_TYPES))
            if rng.random() < 0.3:
                required.append(name)
        numbers = [p for p in properties.values()
                   if isinstance(p, dict) and p.get("type") == "number" and "maximum" in p]
        if numbers and rng.random() < 0.3:
            rng.choice(numbers)["maximum"] = 100
        if "additionalProperties" in schema and rng.random() < 0.2:
            schema["additionalProperties"] = True

    # -- workflows -----------------------------------------------------------------------------

    def workflows(self, agents: list[Json]) -> list[Json]:
        rng, template = self.rng, self.workflow_template
        workers = agents[1:]
        out: list[Json] = []
        for number in range(self.spec.workflows):
            domain, process = rng.choice(DOMAINS), rng.choice(PROCESSES)
            workflow = _copy(template)
            workflow_id = f"{domain}_{process}_{number:04d}"
            workflow["workflow_id"] = workflow_id
            workflow["name"] = f"{_title(domain)} {_title(process)} Workflow #{number}"
            workflow["description"] = (f"{_title(process)} for {domain.replace('_', ' ')} "
                                       f"claims in {rng.choice(REGIONS)}")
            workflow["goal"] = f"{template['goal']} for {domain.replace('_', ' ')} business"
            workflow["version"] = f"1.{rng.randint(0, 9)}.{rng.randint(0, 20)}"
            workflow["mode"] = rng.choice(("advisory", "advisory", "strict"))
            members = sorted(rng.sample(workers, rng.randint(3, min(8, len(workers)))),
                             key=lambda a: ROLE_ORDER.index(self._agent_role(a)))
            steps = self._steps(members)
            workflow["steps"] = steps
            sequence = [s["agent_id"] for s in steps]
            workflow["suggested_sequence"] = sequence
            required = list(dict.fromkeys([sequence[0], sequence[-1]]))
            workflow["required_agents"] = required
            workflow["optional_agents"] = [
                s["agent_id"] for s in steps
                if s.get("allow_partial_failure") and s["agent_id"] not in required]
            criteria = workflow["completion_criteria"]
            criteria["required_agents_executed"] = required
            criteria["min_agents_executed"] = min(3, len(steps))
            workflow["constraints"]["max_agent_invocations"] = 2 * len(steps) + rng.randint(0, 8)
            workflow["metadata"] = {
                "business_owner": f"{_title(domain)} Claims Operations",
                "expected_duration_seconds": sum(s["timeout_seconds"] for s in steps) // 2}
            checkpoints = workflow["hitl_checkpoints"]
            for index, checkpoint in enumerate(checkpoints):
                if "agent_id" in checkpoint:
                    checkpoint["agent_id"] = rng.choice(sequence)
                    checkpoint["checkpoint_id"] = f"{checkpoint['checkpoint_id']}_{index}"
                if checkpoint.get("required_role") == "fraud_investigator":
                    # the template's role may not handle 'approval' checkpoints (H003): a
                    # generated mesh is warning-free, so its fraud reviews are decisions
                    checkpoint["checkpoint_type"] = "decision"
            if rng.random() < 0.3:
                del checkpoints[1:]
            out.append(workflow)
        return out

    def _steps(self, members: list[Json]) -> list[Json]:
        rng = self.rng
        steps: list[Json] = []
        used: set[str] = set()
        for index, agent in enumerate(members):
            role = self._agent_role(agent)
            template = self.step_templates[f"{role}_agent"]
            step_id = role if role not in used else f"{role}_{index + 1}"
            used.add(step_id)
            step = _copy(template)
            step["step_id"] = step_id
            step["agent_id"] = agent["agent_id"]
            step["sequence"] = index + 1
            step["timeout_seconds"] = rng.choice((30, 60, 60, 90, 120))
            step.pop("allow_partial_failure", None)
            steps.append(step)
        last = len(steps) - 1
        for index, step in enumerate(steps):
            following = steps[index + 1]["step_id"] if index < last else "complete"
            partial = index not in (0, last) and rng.random() < 0.4
            step["on_success"] = following
            if index == last:
                step["on_failure"] = rng.choice(("complete_with_warning", "terminate_with_error"))
            else:
                step["on_failure"] = following if partial else "terminate_with_error"
            earlier = [s["step_id"] for s in steps[:index]]
            if len(earlier) > 4:
                earlier = [earlier[0], *sorted(rng.sample(earlier[1:], 3),
                                               key=earlier.index)]
            step["context_compilation"]["include_prior_outputs"] = earlier
            step["context_compilation"]["include_original_input"] = index < 3
            if partial:
                step["allow_partial_failure"] = True
        return steps

    @staticmethod
    def _agent_role(agent: Json) -> str:
        """The fixture role an agent was made from: `motor_fraud_00042_agent` -> `fraud`."""
        return str(agent["agent_id"]).rsplit("_", 2)[0].split("_")[-1]

    # -- governance ----------------------------------------------------------------------------

    def policies(self, agents: list[Json], tools: list[Json],
                 workflows: list[Json]) -> Json:
        rng = self.rng
        document: Json = _copy(self.policy_file)
        policies: Json = document["policies"]
        orchestrator, workers = agents[0], agents[1:]
        by_id = {a["agent_id"]: a for a in workers}
        orchestrated = [by_id[name] for name in orchestrator["allowed_agents"]]
        tool_ids = [t["tool_id"] for t in tools]

        policies["agent_invocation_access"]["rules"][0]["allowed_agents"] = list(
            orchestrator["allowed_agents"])

        access: list[Json] = []
        for agent in orchestrated:
            denied = [t for t in rng.sample(tool_ids, 5) if t not in agent["allowed_tools"]]
            access.append({"agent_id": agent["agent_id"],
                           "allowed_tools": list(agent["allowed_tools"]),
                           "denied_tools": denied})
        policies["agent_tool_access"]["rules"] = access

        usage: list[Json] = []
        for workflow in workflows[:20]:
            profiles = sorted({by_id[s["agent_id"]]["model_profile_id"]
                               for s in workflow["steps"]})
            usage.append({"workflow_id": workflow["workflow_id"], "allowed_profiles": profiles,
                          "default_profile": profiles[0]})
        policies["model_usage"]["rules"] = usage

        overrides = policies["iteration_limits"]["agent_overrides"][:1]  # the orchestrator's
        for agent in orchestrated[:10]:
            overrides.append({"agent_id": agent["agent_id"],
                              "max_iterations": agent["max_iterations"]})
        policies["iteration_limits"]["agent_overrides"] = overrides

        workflow_ids = [w["workflow_id"] for w in workflows]
        for role in policies["hitl_access_control"]["roles"]:
            if role["allowed_workflows"] != ["*"]:
                role["allowed_workflows"] = sorted(
                    rng.sample(workflow_ids, min(len(workflow_ids), rng.randint(3, 12))))

        handoffs = policies["multi_agent_handoffs"]
        templates = [r for r in handoffs["agent_handoff_rules"]
                     if "*" not in (r["from_agent_id"], r["to_agent_id"])]
        wildcards = [r for r in handoffs["agent_handoff_rules"]
                     if "*" in (r["from_agent_id"], r["to_agent_id"])]
        rules: list[Json] = []
        for number, workflow in enumerate(workflows[:20]):
            steps = workflow["steps"]
            index = rng.randrange(len(steps) - 1)
            rule = _copy(templates[number % len(templates)])
            rule["from_agent_id"] = steps[index]["agent_id"]
            rule["to_agent_id"] = steps[index + 1]["agent_id"]
            rule["rule_id"] = f"{steps[index]['step_id']}_to_{steps[index + 1]['step_id']}_{number}"
            rules.append(rule)
        for rule in _copy(wildcards):
            side = "to_agent_id" if rule["from_agent_id"] == "*" else "from_agent_id"
            rule[side] = orchestrated[0]["agent_id"]
            rules.append(rule)
        handoffs["agent_handoff_rules"] = rules
        return document


# -- writing -----------------------------------------------------------------------------------


def allow_what_runs(agents: list[Json], workflows: list[Json], document: Json) -> None:
    """Make the mesh one the runtime lets run (the access rules, A001-A003): the
    orchestrator lists, and its agent_invocation_access rule allows, every agent a workflow
    runs; every agent that asks for tools gets a rule of agent_tool_access granting them
    (after the orchestrated agents' own rules, which also deny some)."""
    orchestrator = agents[0]
    run: set[str] = set()
    for workflow in workflows:
        run.update(step["agent_id"] for step in workflow["steps"])
        run.update(workflow["completion_criteria"].get("required_agents_executed", []))
    invoked = list(dict.fromkeys([*orchestrator["allowed_agents"],
                                  *sorted(run - {ORCHESTRATOR_ID})]))
    orchestrator["allowed_agents"] = invoked
    policies = document["policies"]
    [invocation] = [rule for rule in policies["agent_invocation_access"]["rules"]
                    if rule["agent_id"] == ORCHESTRATOR_ID]
    invocation["allowed_agents"] = list(invoked)
    tool_rules = policies["agent_tool_access"]["rules"]
    granted = {rule["agent_id"] for rule in tool_rules}
    tool_rules += [{"agent_id": agent["agent_id"], "allowed_tools": list(agent["allowed_tools"])}
                   for agent in agents
                   if agent.get("allowed_tools") and agent["agent_id"] not in granted]


def _dump(path: Path, data: Any) -> int:
    """Write JSON as the upstream files are written (indent=2, ASCII); return the size."""
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return len(text)


def _prepare(out: Path) -> None:
    """Make `out` ready: refuse to overwrite what this tool did not write."""
    owned = (out / MARKER).exists()
    for name in ("registries", "manifests"):
        target = out / name
        if target.exists():
            if not owned:
                raise SystemExit(f"{target} exists and {out / MARKER} does not: refusing to "
                                 "overwrite a directory this generator did not create")
            shutil.rmtree(target)
    (out / MARKER).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


_to_export: list[Resource] = []  # what forked export workers read (set before forking)


def _export_slice(job: tuple[Path, int, int]) -> int:
    out, start, step = job
    return len(export_resources(_to_export[start::step], out))


def _export(resources: list[Resource], out: Path) -> None:
    """`export_resources` over all resources; rendering and the per-file atomic writes are
    spread over forked workers (each writes its own files, so the result is the same)."""
    global _to_export
    workers = min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(resources) < 2000:
        export_resources(resources, out)
        return
    _to_export = resources
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            written = sum(pool.map(_export_slice, [(out, n, workers) for n in range(workers)]))
    finally:
        _to_export = []
    if written != len(resources):
        raise RuntimeError(f"exported {written} of {len(resources)} resources")


def _tree_bytes(folder: Path, suffix: str) -> tuple[int, int]:
    files = [p for p in folder.rglob(f"*{suffix}") if ".meshctl-cache" not in p.parts]
    return len(files), sum(p.stat().st_size for p in files)


def generate(spec: MeshSpec, out: Path, *, verbose: bool = True) -> Json:
    """Write DIR/registries and DIR/manifests for `spec`; return a summary (also in MARKER)."""
    started = time.perf_counter()
    gen = Generator(spec)
    _prepare(out)
    profiles = gen.profiles()
    tools = gen.tools()
    agents = gen.agents(tools, profiles)
    workflows = gen.workflows(agents)
    policies = gen.policies(agents, tools, workflows)
    allow_what_runs(agents, workflows, policies)
    registries = out / "registries"

    def header(file: Json, key: str, items: Any) -> Json:
        return {**{k: v for k, v in file.items() if k != key}, key: items}

    sizes = {
        "agent_registry.json": _dump(registries / "agent_registry.json",
                                     header(gen.agent_file, "agents", agents)),
        "tool_registry.json": _dump(registries / "tool_registry.json",
                                    header(gen.tool_file, "tools", tools)),
        "model_profiles.json": _dump(registries / "model_profiles.json",
                                     header(gen.profile_file, "profiles", profiles)),
        "governance_policies.json": _dump(registries / "governance_policies.json", policies),
        "workflows/": sum(_dump(registries / "workflows" / f"{w['workflow_id']}.json", w)
                          for w in workflows),
    }
    generated = time.perf_counter() - started

    live = read_live_state(registries)  # exactly what `meshctl export` does next
    if live.diagnostics:
        first = "\n".join(d.message for d in live.diagnostics[:5])
        raise SystemExit(f"generated registries do not read cleanly:\n{first}")
    manifests = out / "manifests"
    _export(list(live.state), manifests)
    files, manifest_bytes = _tree_bytes(manifests, ".yaml")
    summary: Json = {
        "spec": asdict(spec),
        "registry_bytes": sizes,
        "registries_total_bytes": sum(sizes.values()),
        "manifest_files": files,
        "manifest_bytes": manifest_bytes,
        "seconds": {"generate": round(generated, 2),
                    "export": round(time.perf_counter() - started - generated, 2)},
    }
    (out / MARKER).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if verbose:
        print(f"mesh in {out}: {spec.agents} agents, {spec.tools} tools, {spec.profiles} "
              f"profiles, {spec.workflows} workflows, {len(policies['policies'])} policies")
        for name, size in sizes.items():
            print(f"  registries/{name:<26} {size / 1e6:8.2f} MB")
        print(f"  registries total               {summary['registries_total_bytes'] / 1e6:8.2f} MB")
        print(f"  manifests/ ({files} files)       {manifest_bytes / 1e6:8.2f} MB")
        print(f"  took {generated:.1f} s to generate, "
              f"{summary['seconds']['export']:.1f} s to export")
    return summary


def existing_summary(out: Path) -> Json | None:
    """The summary of a mesh this tool generated in `out`, if any."""
    try:
        data: Json = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=DEFAULT_SPEC.agents)
    parser.add_argument("--tools", type=int, default=DEFAULT_SPEC.tools)
    parser.add_argument("--profiles", type=int, default=DEFAULT_SPEC.profiles)
    parser.add_argument("--workflows", type=int, default=DEFAULT_SPEC.workflows)
    parser.add_argument("--seed", type=int, default=DEFAULT_SPEC.seed)
    parser.add_argument("--out", type=Path, required=True,
                        help="directory to write registries/ and manifests/ into")
    args = parser.parse_args(argv)
    spec = MeshSpec(args.agents, args.tools, args.profiles, args.workflows, args.seed)
    try:
        generate(spec, args.out)
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
