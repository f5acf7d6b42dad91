"""Text tools: make slugs, render templates safely, count words.

A sample Switchboard library of pure functions: no settings, no tables,
no `ctx`. Copy (or symlink) this folder into LIBRARIES_DIR and add it by its
folder name, or run `webapp demo`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, TypedDict

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context as TemplateContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from modules.libraries.contract import LibraryRegistry

VERSION = "1.0.0"
MAX_TEMPLATE = 100_000  # characters of template source
MAX_OUTPUT = 1_000_000  # characters of rendered text
MAX_EXPONENT = 1_000
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class Slug(TypedDict):
    """The answer of texttools.slugify."""

    slug: str


class Rendered(TypedDict):
    """The answer of texttools.render."""

    text: str


class Counts(TypedDict):
    """The answer of texttools.count_words."""

    words: int
    characters: int
    lines: int


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (no `_private` attributes, no unsafe calls, no changing
    the values passed in), which also refuses the arithmetic that would eat
    the memory or the CPU: huge repeated strings and lists, huge powers."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: TemplateContext, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sized, times in ((left, right), (right, left)):
                if (
                    isinstance(sized, (str, list, tuple))
                    and isinstance(times, int)
                    and len(sized) * times > MAX_OUTPUT
                ):
                    raise SecurityError(f"the result would be longer than {MAX_OUTPUT:,}")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
        return super().call_binop(context, operator, left, right)


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def slugify(text: str, max_length: int = 80) -> Slug:
    """Turns text into a URL slug: lower-case ASCII letters and digits
    joined by hyphens ("Héllo, World!" becomes "hello-world").

    Args:
        text: The text to turn into a slug.
        max_length: The longest slug to return (at least 1).
    """
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    return {"slug": slug[:max_length].rstrip("-")}


def render(template: str, values: dict[str, Any]) -> Rendered:
    """Renders a Jinja2 template with the given values, in a sandbox: the
    template cannot reach Python internals, change the values, or use a
    value it was not given.

    Args:
        template: Jinja2 template text, such as "Hello {{ name }}".
        values: The values the template may use, by name.
    """
    if len(template) > MAX_TEMPLATE:
        raise ValueError(f"the template is longer than {MAX_TEMPLATE:,} characters")
    try:
        compiled = _ENV.from_string(template)
        parts: list[str] = []
        size = 0
        for part in compiled.generate(values):
            size += len(part)
            if size > MAX_OUTPUT:
                raise ValueError(f"the rendered text is longer than {MAX_OUTPUT:,} characters")
            parts.append(part)
    except TemplateSyntaxError as exc:
        raise ValueError(f"the template has an error on line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise ValueError(f"the template tried something unsafe: {exc}") from None
    except UndefinedError as exc:
        raise ValueError(f"the template uses a value it was not given: {exc}") from None
    except TemplateError as exc:
        raise ValueError(f"the template failed: {exc}") from None
    except (ArithmeticError, LookupError, TypeError) as exc:
        # Template expressions such as {{ 1 / 0 }} or {{ items[9] }}.
        raise ValueError(f"the template failed: {type(exc).__name__}: {exc}") from None
    return {"text": "".join(parts)}


def count_words(text: str) -> Counts:
    """Counts the words (separated by white space), characters and lines of a text.

    Args:
        text: The text to count.
    """
    return {"words": len(text.split()), "characters": len(text), "lines": len(text.splitlines())}


def register(registry: LibraryRegistry) -> None:
    """Declare the three capabilities (they need no settings and no tables)."""
    registry.info(
        version=VERSION,
        title="Text tools",
        description="Make slugs, render templates safely and count words.",
    )
    registry.capability(slugify, title="Make a slug", timeout=5)
    registry.capability(render, title="Render a template", timeout=10)
    registry.capability(count_words, title="Count words", timeout=5)
