"""The `webapp` command."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from webapp import __version__
from webapp.settings import Settings, SettingsError

Command = Callable[[argparse.Namespace, Settings], int]


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the web app (and its background workers) under uvicorn."""
    import uvicorn  # pylint: disable=import-outside-toplevel  # only this command needs it

    from webapp.container import (  # pylint: disable=import-outside-toplevel
        resolve_secret_key,
    )

    # Before any worker starts: make the data folder and the secret once.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    resolve_secret_key(settings)
    uvicorn.run(
        "webapp.app:app_from_env",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        log_config=None,  # our own logging is configured by the app
        access_log=False,  # the request-id middleware logs each request
        proxy_headers=True,
        server_header=False,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Commands and their options."""
    parser = argparse.ArgumentParser(
        prog="webapp",
        description="Switchboard: the self-hosted command center for SaaS teams.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="run the web app", description=cmd_serve.__doc__)
    serve.add_argument("--host", help="interface to listen on (default: HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT, 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS, 1)")
    serve.set_defaults(handler=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `webapp` script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"webapp: configuration error: {exc}", file=sys.stderr)
        return 2
    handler: Command = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
