"""The `webapp` command."""

from __future__ import annotations

import argparse
import getpass
import secrets
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from webapp import __version__
from webapp.settings import Settings, SettingsError

if TYPE_CHECKING:
    from modules.libraries.manager import LibraryManager

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


# --- demo ------------------------------------------------------------------
# The demo is a sequence of small steps so later issues can add theirs (tiers,
# workflows). Each step says what it did in one line; a step that cannot go
# on raises DemoError.

DEMO_LIBRARIES = ("crm", "texttools")
Say = Callable[[str], None]


class DemoError(Exception):
    """A demo step could not be done; the message says why."""


def cmd_demo(_args: argparse.Namespace, settings: Settings) -> int:
    """Load the sample libraries (crm, texttools) from examples/ so there is
    something to try. Safe to run again: what is already there is kept."""
    from modules.logs import (  # pylint: disable=import-outside-toplevel
        configure as configure_logging,
    )
    from webapp.container import Container  # pylint: disable=import-outside-toplevel

    # Warnings and errors only: the demo reports its steps itself.
    level = settings.log_level if settings.log_level in ("ERROR", "CRITICAL") else "WARNING"
    configure_logging(level, settings.log_format, settings.log_file or None, settings.log_console)
    try:
        _demo_copy_examples(Path(settings.libraries_dir), print)
        services = Container.build(settings)
        try:
            services.libraries.start()
            _demo_add_libraries(services.libraries, print)
            _demo_configure_crm(services.libraries, print)
        finally:
            services.close()
    except (DemoError, OSError) as exc:
        print(f"webapp: demo: {exc}", file=sys.stderr)
        return 1
    print("Next: uv run webapp serve, sign in as an owner, then open Libraries.")
    return 0


def _demo_copy_examples(libraries_dir: Path, say: Say) -> None:
    """Copy each sample library into LIBRARIES_DIR unless a folder of that
    name is already there (it is never overwritten)."""
    from webapp.paths import ROOT  # pylint: disable=import-outside-toplevel

    if not libraries_dir.is_dir():
        libraries_dir.mkdir(parents=True)
        say(f"made the libraries folder {libraries_dir}")
    for name in DEMO_LIBRARIES:
        source, target = ROOT / "examples" / name, libraries_dir / name
        if target.exists():
            say(f"kept {target} (already there, not overwritten)")
            continue
        if not (source / "__init__.py").is_file():
            raise DemoError(f"the sample library {source} is missing; run the demo from a checkout")
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        say(f"copied {source} to {target}")


def _demo_add_libraries(libraries: LibraryManager, say: Say) -> None:
    """Add each sample library by its folder name unless it is added already;
    one that fails does not keep the others from being added."""
    from modules.datastore import (  # pylint: disable=import-outside-toplevel
        ValidationError,
    )

    problems = []
    for name in DEMO_LIBRARIES:
        done = "already added"
        if libraries.library(name) is None:
            try:
                libraries.add(name)
            except ValidationError as exc:
                problems.append(f"cannot add {name}: {'; '.join(exc.fields.values())}")
                continue
            done = "added"
        view = libraries.library(name) or {}
        if not view.get("enabled"):
            say(f"{done} library {name}, but it is disabled; enable it on the Libraries screen")
        elif not view.get("loaded"):
            problems.append(f"library {name} failed to load: {view.get('error') or 'no reason'}")
        else:
            count = len(view["capabilities"])
            say(f"{done} library {name} {view['version']} ({count} capabilities)")
    if problems:
        raise DemoError("; ".join(problems))


def _demo_configure_crm(libraries: LibraryManager, say: Say) -> None:
    """Give crm a random api_token unless it has one (the token is never shown)."""
    from modules.datastore import (  # pylint: disable=import-outside-toplevel
        ValidationError,
    )

    view = libraries.library("crm") or {}
    if not view.get("loaded"):
        say("skipped configuring crm (it is not loaded)")
        return
    if libraries.config_values("crm").get("api_token"):
        say("kept the api_token crm already has")
        return
    try:
        libraries.configure("crm", {"api_token": secrets.token_urlsafe(32)})
    except ValidationError as exc:
        raise DemoError(f"cannot configure crm: {'; '.join(exc.fields.values())}") from None
    say("configured crm with a random api_token (stored encrypted, never shown)")


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

    demo = sub.add_parser(
        "demo", help="load the sample libraries to try things out", description=cmd_demo.__doc__
    )
    demo.set_defaults(handler=cmd_demo)
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
