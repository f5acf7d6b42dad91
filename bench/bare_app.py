"""The floor for bench/pages.py: a bare Starlette route returning "ok"."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def ok(_request: Request) -> PlainTextResponse:
    """The cheapest page Starlette can serve."""
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/", ok)])
