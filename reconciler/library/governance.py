"""The runtime's governance decision, as upstream's `RegistryManager` makes it.

Allowed when there are no governance policies at all; else the first rule of the policy
whose `agent_id` is the subject and that names the target decides (denied wins within a
rule); no such rule denies. Ids compare literally ("*" is an id, not a wildcard).
"""

from __future__ import annotations

from typing import Any


def decide(rules: list[Any] | None, subject: str, target: str, allowed: str,
           denied: str) -> bool:
    """`rules`: the policy's rules (None: no governance at all); `allowed`/`denied`: the
    names of the rule's lists (`allowed_tools`, `denied_tools`, ...)."""
    if rules is None:
        return True
    for rule in rules:
        if isinstance(rule, dict) and rule.get("agent_id") == subject:
            if target in (rule.get(denied) or []):
                return False
            if target in (rule.get(allowed) or []):
                return True
    return False
