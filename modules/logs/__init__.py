"""One logging interface for every module: `get_logger(name)`.

Records carry the request id and run id of the context they were logged in
(`bind(request_id=...)`), as text or as JSON lines, to the console and/or a
file. Built on the standard `logging` package so third-party libraries'
records flow through the same handlers.
"""

from modules.logs.context import bind, current_context
from modules.logs.setup import LEVELS, configure, get_logger

__all__ = ["LEVELS", "bind", "configure", "current_context", "get_logger"]
