"""Write one `## ` section of bench/README.md, leaving the others as they are.

Each benchmark script owns one section (`run.py` "## Results", `apply.py` "## Apply",
`library.py` "## Library", `watch.py` "## Watch", `lifetime.py` "## Lifetime", `access.py`
"## Access rules (issue 24)") and replaces only it, so they can run in any order.
"""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def replace_section(heading: str, section: str, readme: Path = README) -> None:
    """Put `section` (which starts with `heading`) in place of that section, or at the end."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    body = section.rstrip("\n") + "\n"
    if f"\n{heading}\n" in f"\n{text}":
        before, after = f"\n{text}".split(f"\n{heading}\n", 1)
        rest = after.split("\n## ", 1)
        tail = "\n## " + rest[1] if len(rest) > 1 else ""
        text = (before.lstrip("\n").rstrip("\n") + "\n\n" + body + tail).lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    readme.write_text(text, encoding="utf-8")
