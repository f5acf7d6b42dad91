"""Capabilities that ship with Switchboard, registered through the same
contract as any outside library (`register(registry)`)."""

from __future__ import annotations

from modules.email import Mailer
from modules.libraries.core import http, people, util
from modules.libraries.core.mail import mail_library
from modules.libraries.manager import CoreLibrary
from modules.tenants import Tenants


def core_libraries(tenants: Tenants, mailer: Mailer) -> list[CoreLibrary]:
    """Every built-in library, bound to the services it needs."""
    return [
        CoreLibrary("util", util.register),
        CoreLibrary("http", http.register),
        mail_library(mailer),
        *people.people_libraries(tenants),
    ]
