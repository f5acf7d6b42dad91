"""Checks that keep header injection impossible: no line breaks, one address."""

from __future__ import annotations

import re

# Every character that could end a header line somewhere along the way:
# ASCII controls (CR, LF, NUL...), DEL, and the Unicode line breaks that
# `str.splitlines()` honours.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
# Characters that would let one "address" name several recipients, a display
# name or a comment; none belongs in a bare address.
_NOT_IN_ADDRESS = re.compile(r"[\s,;<>()\[\]\"\\]")
MAX_ADDRESS = 254


def check_header_text(value: str, what: str) -> str:
    """Return `value` if it is safe as a header value; else `ValueError`."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text")
    if _BREAKS.search(value):
        raise ValueError(f"{what} must be one line without control characters")
    return value


def check_address(value: str) -> str:
    """Return `value` if it is one bare address (`name@domain`); else `ValueError`.

    Deliberately minimal: the mail server is the judge of deliverability;
    this only makes sure the value is one recipient and one header line.
    """
    check_header_text(value, "email address")
    if len(value) > MAX_ADDRESS:
        raise ValueError(f"email address is longer than {MAX_ADDRESS} characters")
    if _NOT_IN_ADDRESS.search(value):
        raise ValueError(f"email address {value!r} contains spaces or punctuation it cannot have")
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise ValueError(f"email address {value!r} must look like name@example.com")
    return value
