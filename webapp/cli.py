"""The `webapp` command."""

from __future__ import annotations

import argparse
import getpass
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


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    """Create an Owner in the platform account (creating that account on first run)."""
    from modules.datastore import (  # pylint: disable=import-outside-toplevel
        ValidationError,
    )
    from webapp.container import Container  # pylint: disable=import-outside-toplevel
    from webapp.usecases import add_platform_owner  # pylint: disable=import-outside-toplevel

    password = args.password
    if password is None:
        password = getpass.getpass("Password (at least 10 characters): ")
        if getpass.getpass("Repeat the password: ") != password:
            print("webapp: the two passwords differ", file=sys.stderr)
            return 1
    services = Container.build(settings)
    try:
        user_id = add_platform_owner(
            services, args.username, args.name or args.username.split("@")[0], password
        )
    except ValidationError as exc:
        for field, message in exc.fields.items():
            print(f"webapp: {field}: {message}", file=sys.stderr)
        return 1
    finally:
        services.close()
    print(f"Created owner {args.username} (user id {user_id}).")
    return 0


def cmd_create_api_key(args: argparse.Namespace, settings: Settings) -> int:
    """Create an API key for a user and print it (it is not shown again)."""
    from webapp.container import Container  # pylint: disable=import-outside-toplevel

    services = Container.build(settings)
    try:
        user = services.tenants.find_user_by_username(args.username)
        if user is None:
            print(f"webapp: no user {args.username!r}", file=sys.stderr)
            return 1
        _, key = services.tenants.create_api_key(user["account_id"], user["id"], args.name)
    finally:
        services.close()
    print(key)
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

    admin = sub.add_parser(
        "create-admin",
        help="create an owner of the installation",
        description=cmd_create_admin.__doc__,
    )
    admin.add_argument("--username", required=True, help="email address to sign in with")
    admin.add_argument("--password", help="the password (prompted for when left out)")
    admin.add_argument("--name", help="display name (default: the part before @)")
    admin.set_defaults(handler=cmd_create_admin)

    key = sub.add_parser(
        "create-api-key",
        help="print a new API key for a user",
        description=cmd_create_api_key.__doc__,
    )
    key.add_argument("--username", required=True, help="the user the key acts as")
    key.add_argument("--name", default="command line", help="a name to recognise the key by")
    key.set_defaults(handler=cmd_create_api_key)
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
