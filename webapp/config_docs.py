"""Writes the configuration reference (README table, .env.example) from
`settings.VARIABLES`, so the documentation cannot drift from the code.

    uv run python -m webapp.config_docs        # rewrite both
"""

from __future__ import annotations

import re
from pathlib import Path

from webapp.paths import ROOT
from webapp.settings import VARIABLES

BEGIN, END = "<!-- config:begin -->", "<!-- config:end -->"


def env_example() -> str:
    """The text of `.env.example`."""
    lines = [
        "# Switchboard configuration. Copy to .env and change what you need;",
        "# every line shows the default. Real environment variables override this file.",
        "",
    ]
    for var in VARIABLES:
        lines += [f"# {var.help} Accepts: {var.accepts}.", f"{var.name}={var.default}", ""]
    return "\n".join(lines)


def readme_table() -> str:
    """The Markdown table of variables."""
    rows = ["| Variable | Default | Accepts | Meaning |", "| --- | --- | --- | --- |"]
    for var in VARIABLES:
        default = f"`{var.default}`" if var.default else "(empty)"
        rows.append(f"| `{var.name}` | {default} | {var.accepts} | {var.help} |")
    return "\n".join(rows)


def write(root: Path = ROOT) -> None:
    """Rewrite `.env.example` and the README's table between the markers."""
    (root / ".env.example").write_text(env_example(), encoding="utf-8")
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{readme_table()}\n{END}"
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write()
