"""Switchboard web layer: Starlette app, routes, middleware, CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("switchboard")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+local"
