"""The library manager: add, enable, disable, reload, configure and remove
libraries while the app runs, and keep every process in step.

The database holds the desired state (`state.py`); each process loads what
it says and polls one generation counter, so a change made through any
process reaches the others within `poll_seconds`. Loading is all-or-nothing:
the registration is checked completely before anything is applied, and a
library that fails is recorded as failed with its error and registers
nothing.
"""

from __future__ import annotations

import functools
import threading
import traceback
from types import MappingProxyType
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from modules.authz import Permission, PermissionRegistry
from modules.datastore import Datastore, Entity, ValidationError
from modules.libraries import loader, schema
from modules.libraries.coercion import coerce
from modules.libraries.context import EventSink, LogSink
from modules.libraries.contract import (
    Capability,
    FieldSpec,
    LibraryRegistry,
    Registration,
    RegistrationError,
    SchemaDeriver,
)
from modules.libraries.invoker import (
    NOT_FOUND,
    PERMISSION,
    VALIDATION,
    InProcessRunner,
    InvokeResult,
    Validator,
    failure,
    run_in_process,
)
from modules.libraries.loader import LibrarySource
from modules.libraries.secretbox import SecretBox, SecretError
from modules.libraries.state import MODES, LibraryState
from modules.logs import get_logger

log = get_logger("libraries")
RegisterFn = Callable[[LibraryRegistry], None]


@dataclass(frozen=True)
class CoreLibrary:
    """A library that ships with the app: always loaded, never removed."""

    name: str
    register: RegisterFn


@dataclass
class Loaded:  # pylint: disable=too-many-instance-attributes  # one live library
    """A library that is live in this process."""

    registration: Registration
    source: LibrarySource
    mode: str
    revision: int
    config: dict[str, Any]
    runner: Any
    validators: dict[str, Validator] = field(default_factory=dict)
    permission_keys: tuple[str, ...] = ()

    @property
    def event_names(self) -> frozenset[str]:
        """The events this library declared (the only ones it may emit)."""
        return frozenset(e.name for e in self.registration.events)

    @property
    def entity_names(self) -> tuple[str, ...]:
        """The tables this library declared."""
        return tuple(e.name for e in self.registration.entities)

    def stop(self) -> None:
        """Release its threads or worker process."""
        self.runner.stop()


def generated_permissions(reg: Registration) -> list[Permission]:
    """The permissions every library gets besides the ones it declares:
    `<library>.use` for its capabilities and view/manage per entity."""
    group = reg.title or reg.name
    perms = []
    if any(cap.permission == reg.use_permission for cap in reg.capabilities):
        perms.append(
            Permission(
                reg.use_permission,
                f"Run the capabilities of {group}.",
                group,
                roles=("Admin", "Member"),
            )
        )
    for entity in reg.entities:
        label = entity.label or entity.name
        # Rows of a global entity are shared by every account: only the
        # platform's operators may see or change them.
        platform = not entity.tenant_scoped
        perms.append(
            Permission(f"{entity.name}.view", f"See {label} records.", group, platform=platform)
        )
        perms.append(
            Permission(
                f"{entity.name}.manage",
                f"Create, change and delete {label} records.",
                group,
                platform=platform,
                roles=("Admin", "Member"),
            )
        )
    return perms


class LibraryManager:  # pylint: disable=too-many-instance-attributes,too-many-public-methods
    """Owns the loaded libraries of this process and the capability index."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        store: Datastore,
        permissions: PermissionRegistry,
        secrets: SecretBox,
        *,
        libraries_dir: str | Path,
        core: Iterable[CoreLibrary] = (),
        deriver: SchemaDeriver = schema.derive,
        runner_factory: Callable[[LibrarySource, str], Any] | None = None,
        poll_seconds: float = 2.0,
        event_sink: Callable[[int, str, dict[str, Any]], None] | None = None,
    ):
        self.store = store
        self.permissions = permissions
        self.secrets = secrets
        self.libraries_dir = Path(libraries_dir)
        self.core = {c.name: c for c in core}
        self.deriver = deriver
        self.runner_factory = runner_factory
        self.poll_seconds = poll_seconds
        # (account id, event, payload): where events of calls without their own sink go.
        self.event_sink = event_sink
        self.state = LibraryState(store)
        self._loaded: dict[str, Loaded] = {}
        self._capabilities: dict[str, tuple[Loaded, Capability]] = {}
        self._failed: dict[str, str] = {}
        self._seen_generation = -1
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # --- life cycle -----------------------------------------------------

    def start(self) -> None:
        """Load the core libraries and what the database says; start polling."""
        for core in self.core.values():
            source = LibrarySource("core", core.name, core.name)
            try:
                self._activate(source, "thread", 0, {}, registration=self._register(core))
            except Exception:  # pylint: disable=broad-exception-caught
                log.exception("core library %s failed to load", core.name)
        self.sync(force=True)
        if self.poll_seconds > 0 and self._poller is None:
            self._stop.clear()
            self._poller = threading.Thread(target=self._poll, name="libraries-sync", daemon=True)
            self._poller.start()

    def stop(self) -> None:
        """Stop polling and release every library's threads and workers."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None
        with self._lock:
            for name in list(self._loaded):
                self._deactivate(name)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.sync()
            except Exception:  # pylint: disable=broad-exception-caught
                log.exception("library sync failed; will try again")

    def sync(self, force: bool = False) -> None:
        """Make this process match the database (cheap when nothing changed)."""
        generation = self.state.generation()
        if generation == self._seen_generation and not force:
            return
        with self._lock:
            rows = {row["name"]: row for row in self.state.all()}
            for name in [n for n in self._loaded if n not in self.core and n not in rows]:
                self._deactivate(name)
                self._failed.pop(name, None)
            for name, row in rows.items():
                current = self._loaded.get(name)
                if not row["enabled"]:
                    if current is not None:
                        self._deactivate(name)
                    continue
                if current is not None and current.revision == row["revision"]:
                    continue
                if row["status"] == "failed" and name in self._failed and current is None:
                    continue
                self._load_row(row)
            self._seen_generation = generation

    # --- admin operations (all go through the database) -------------------

    def add(self, ref: str) -> dict[str, Any]:
        """Add a library by folder name (under LIBRARIES_DIR) or import name.

        Returns its state row; a library that fails to load is kept, shown
        as failed with its error, so it can be fixed and reloaded.
        """
        ref = ref.strip()
        try:
            if (self.libraries_dir / ref / "__init__.py").is_file():
                source = LibrarySource.folder(self.libraries_dir, ref)
            else:
                source = LibrarySource.package(ref)
        except RegistrationError as exc:
            raise ValidationError({"ref": str(exc)}) from None
        if source.name in self.core or self.state.get(source.name) is not None:
            raise ValidationError({"ref": f"a library called {source.name!r} is already added"})
        self.state.save(
            source.name,
            {"kind": source.kind, "ref": source.ref, "enabled": True, "status": "loaded"},
        )
        self.sync(force=True)
        return self.state.get(source.name) or {}

    def enable(self, name: str) -> None:
        """Load the library again (in every process)."""
        self._require_row(name)
        self.state.save(name, {"enabled": True, "status": "loaded", "error": None})
        self.sync(force=True)

    def disable(self, name: str) -> None:
        """Unload the library (its data and config stay)."""
        self._require_row(name)
        self.state.save(name, {"enabled": False, "status": "disabled", "error": None})
        self.sync(force=True)

    def reload(self, name: str) -> None:
        """Re-import the library's code (picks up changes) everywhere."""
        row = self._require_row(name)
        values: dict[str, Any] = {"enabled": row["enabled"], "error": None}
        if row["enabled"]:
            # Clear "failed": `sync` skips rows still marked failed, so a fixed
            # library would otherwise never be tried again.
            values["status"] = "loaded"
        self.state.save(name, values)
        self.sync(force=True)

    def remove(self, name: str) -> None:
        """Unload and forget the library. Its tables and rows stay."""
        self._require_row(name)
        self.state.delete(name)
        self.sync(force=True)

    def set_mode(self, name: str, mode: str) -> None:
        """Run the library in-process ("thread") or in a worker ("subprocess")."""
        if mode not in MODES:
            raise ValidationError({"mode": f"must be one of: {', '.join(MODES)}"})
        self._require_row(name)
        self.state.save(name, {"mode": mode})
        self.sync(force=True)

    def configure(self, name: str, values: Mapping[str, Any]) -> None:
        """Store config values (secrets encrypted; a blank secret keeps the old one)."""
        row = self._require_row(name)
        loaded = self._loaded.get(name)
        if loaded is None:
            raise ValidationError({"_": "enable the library before configuring it"})
        specs = {spec.name: spec for spec in loaded.registration.config}
        stored = dict(row.get("config") or {})
        errors: dict[str, str] = {}
        for key, value in values.items():
            spec = specs.get(key)
            if spec is None:
                errors[key] = "is not a setting of this library"
            elif spec.secret:
                if value not in (None, ""):
                    stored[key] = self.secrets.encrypt(str(value))
            else:
                stored[key] = value
        for spec in specs.values():
            if spec.required and stored.get(spec.name) in (None, ""):
                errors.setdefault(spec.name, "is required")
        if errors:
            raise ValidationError(errors)
        self.state.save(name, {"config": stored})
        self.sync(force=True)

    # --- queries ---------------------------------------------------------

    def libraries(self) -> list[dict[str, Any]]:
        """Every library (core first) with its status and what it registered."""
        views = [self._view(name, None) for name in sorted(self.core)]
        views += [self._view(row["name"], row) for row in self.state.all()]
        return views

    def library(self, name: str) -> dict[str, Any] | None:
        """One library's view, or None."""
        if name in self.core:
            return self._view(name, None)
        row = self.state.get(name)
        return None if row is None else self._view(name, row)

    def capabilities(self, search: str | None = None) -> list[Capability]:
        """Live capabilities, by name; `search` matches name, title, description."""
        caps = [cap for _, cap in self._capabilities.values()]
        if search:
            term = search.lower()
            caps = [
                c
                for c in caps
                if term in c.name.lower()
                or term in c.title.lower()
                or term in c.description.lower()
            ]
        return sorted(caps, key=lambda c: c.name)

    def capability(self, name: str) -> Capability | None:
        """A live capability by its full name."""
        entry = self._capabilities.get(name)
        return None if entry is None else entry[1]

    def validator(self, name: str) -> tuple[Mapping[str, Any], Validator] | None:
        """(input schema, compiled validator) of a live capability, or None."""
        entry = self._capabilities.get(name)
        if entry is None:
            return None
        loaded, capability = entry
        return capability.input_schema, loaded.validators[name]

    def entities(self) -> list[tuple[str, Entity]]:
        """(library name, entity) for every entity a live library declared."""
        with self._lock:  # the sync thread may be changing the set right now
            loaded = list(self._loaded.items())
        return sorted(
            ((name, entity) for name, lib in loaded for entity in lib.registration.entities),
            key=lambda pair: pair[1].name,
        )

    def entity(self, name: str) -> tuple[str, Entity] | None:
        """The library and definition of a live library entity, or None."""
        for library, entity in self.entities():
            if entity.name == name:
                return library, entity
        return None

    def config_values(self, name: str) -> dict[str, Any]:
        """Non-secret values in effect (stored, else the declared default), and
        which secrets are set (never their values)."""
        row = self.state.get(name) or {}
        loaded = self._loaded.get(name)
        specs = loaded.registration.config if loaded else []
        stored = row.get("config") or {}
        return {
            spec.name: (
                bool(stored.get(spec.name)) if spec.secret else stored.get(spec.name, spec.default)
            )
            for spec in specs
        }

    # --- invocation ------------------------------------------------------

    def invoke(  # pylint: disable=too-many-arguments,too-many-locals,too-many-return-statements
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        permissions: frozenset[str],
        account_id: int | None = None,
        user_id: int | None = None,
        timeout: float | None = None,
        log_sink: LogSink | None = None,
        event_sink: EventSink | None = None,
        cancel: threading.Event | None = None,
    ) -> InvokeResult:
        """Call a capability: validate, check permission, run with a timeout.

        Never raises for anything the call itself did wrong: the result says.
        """
        entry = self._capabilities.get(name)
        if entry is None:
            return failure(NOT_FOUND, f"there is no capability {name!r} (is its library enabled?)")
        loaded, capability = entry
        if capability.permission not in permissions:
            return failure(PERMISSION, f"{name} needs the permission {capability.permission!r}")
        if not isinstance(params, Mapping):
            return failure(VALIDATION, "parameters must be an object", {"_": "must be an object"})
        errors = loaded.validators[name](params)
        if errors:
            return failure(VALIDATION, "some parameters are not valid", errors)
        values = schema.apply_defaults(capability.input_schema, params)
        if capability.coercers:
            wrong = coerce(values, capability.coercers)
            if wrong:
                return failure(VALIDATION, "some parameters are not valid", wrong)
        limit = min(timeout, capability.timeout) if timeout else capability.timeout
        sink = event_sink
        if sink is None and self.event_sink is not None and account_id is not None:
            # Events of a one-off call (the API, "try it") reach the account's workflows too.
            sink = functools.partial(self._account_event, account_id)
        if loaded.mode == "subprocess":
            return self._invoke_worker(
                loaded,
                capability,
                values,
                account_id=account_id,
                user_id=user_id,
                timeout=limit,
                event_sink=sink,
                log_sink=log_sink,
            )
        return run_in_process(
            loaded.runner,
            capability,
            values,
            store=self.store,
            entities=loaded.entity_names,
            config=MappingProxyType(loaded.config),
            account_id=account_id,
            user_id=user_id,
            timeout=limit,
            log_sink=log_sink,
            events=loaded.event_names,
            event_sink=sink,
            cancel=cancel,
        )

    def _account_event(self, account_id: int, name: str, payload: dict[str, Any]) -> None:
        if self.event_sink is not None:
            self.event_sink(account_id, name, payload)

    def _invoke_worker(  # pylint: disable=too-many-arguments
        self,
        loaded: Loaded,
        capability: Capability,
        params: dict[str, Any],
        *,
        account_id: int | None,
        user_id: int | None,
        timeout: float,
        event_sink: EventSink | None,
        log_sink: LogSink | None,
    ) -> InvokeResult:
        result = loaded.runner.call(
            capability.name,
            params,
            account_id=account_id,
            user_id=user_id,
            config=loaded.config,
            timeout=timeout,
        )
        kind = result.kind
        if log_sink is not None:
            # A worker's log lines arrive with its answer (not as they happen).
            for level, message in result.logs:
                log_sink(level, message)
        if result.ok and event_sink is not None:
            for event, payload in result.events:
                if event in loaded.event_names:
                    event_sink(event, payload)
        return InvokeResult(
            ok=result.ok,
            output=result.output,
            error=result.error or "",
            kind=kind,
            duration_ms=result.duration_ms,
            logs=tuple(result.logs),
            events=tuple(result.events),
        )

    # --- loading -----------------------------------------------------------

    def _register(self, core: CoreLibrary) -> Registration:
        registry = LibraryRegistry(core.name, self.deriver)
        core.register(registry)
        return registry.result

    def _load_row(self, row: dict[str, Any]) -> None:
        name = row["name"]
        source = LibrarySource(row["kind"], row["ref"], name)
        if name in self._loaded:
            self._deactivate(name)
        runner = None
        try:
            config = self._decrypt(row.get("config") or {})
            if row["mode"] == "subprocess" and self.runner_factory is not None:
                # The library's code runs only in its worker: the app learns
                # its declarations from the start answer, so an import that
                # crashes, exits or hangs fails this library alone.
                runner = self.runner_factory(source, row["mode"])
                registration = self._worker_registration(runner)
            else:
                registration = loader.load(source, self.deriver)
            if registration.name != name:
                raise RegistrationError(f"library registered as {registration.name!r}")
            defaults = {
                spec.name: spec.default for spec in registration.config if spec.default is not None
            }
            self._activate(
                source,
                row["mode"],
                row["revision"],
                {**defaults, **config},
                registration,
                runner=runner,
            )
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Whatever the library's code raised, it fails only this library.
            if runner is not None:
                self._stop_runner(name, runner)
            message = f"{type(exc).__name__}: {exc}"
            log.warning("library %s failed to load: %s", name, message)
            log.debug("".join(traceback.format_exception(exc)))
            self._failed[name] = message
            if row["status"] != "failed" or row.get("error") != message:
                self._record_failure(name, message)
            return
        self._failed.pop(name, None)
        if row["status"] != "loaded" or row.get("version") != registration.version:
            self._record_loaded(name, registration.version)

    @staticmethod
    def _worker_registration(runner: Any) -> Registration:
        """Start the worker; the declarations it sends (functions stay there).

        Raises the worker's WorkerError when the library fails to load there.
        """
        answer = runner.start()
        registration = answer.get("registration")
        if not isinstance(registration, Registration):
            raise RegistrationError("the worker did not send the library's declarations")
        return registration

    @staticmethod
    def _stop_runner(name: str, runner: Any) -> None:
        try:
            runner.stop()
        except Exception:  # pylint: disable=broad-exception-caught
            log.exception("stopping the worker of library %s failed", name)

    def _record_failure(self, name: str, message: str) -> None:
        # Written without bumping the revision, so other processes don't reload in a loop.
        self.store.db.execute_write(
            "UPDATE library_state SET status = 'failed', error = ? WHERE name = ?",
            (message, name),
        )

    def _record_loaded(self, name: str, version: str) -> None:
        self.store.db.execute_write(
            "UPDATE library_state SET status = 'loaded', error = NULL, version = ? "
            "WHERE name = ?",
            (version, name),
        )

    def _decrypt(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        config = {}
        for key, value in stored.items():
            if isinstance(value, str) and value.startswith("enc:"):
                try:
                    value = self.secrets.decrypt(value)
                except SecretError:
                    value = None
            config[key] = value
        return config

    def _check(self, reg: Registration) -> tuple[list[Permission], dict[str, Validator]]:
        """Everything that can be wrong with a registration, before any effect."""
        problems = []
        names = [c.name for c in reg.capabilities]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"capabilities declared twice: {', '.join(duplicates)}")
        for entity in reg.entities:
            if not entity.name.startswith(reg.name + "_"):
                problems.append(f"entity {entity.name!r} must be named {reg.name}_<something>")
        config_names = [spec.name for spec in reg.config]
        if len(set(config_names)) != len(config_names):
            problems.append("a config field is declared twice")
        perms = [*reg.permissions, *generated_permissions(reg)]
        own = {p.key for p in perms}
        validators: dict[str, Validator] = {}
        for cap in reg.capabilities:
            if cap.permission not in own and cap.permission not in self.permissions:
                problems.append(f"{cap.name} needs unknown permission {cap.permission!r}")
            try:
                schema.check_schema(cap.input_schema)
                validators[cap.name] = schema.compile_validator(cap.input_schema)
            except RegistrationError as exc:
                problems.append(f"{cap.name}: {exc}")
        if problems:
            raise RegistrationError("; ".join(problems))
        return perms, validators

    def _activate(  # pylint: disable=too-many-arguments
        self,
        source: LibrarySource,
        mode: str,
        revision: int,
        config: dict[str, Any],
        registration: Registration,
        *,
        runner: Any = None,
    ) -> None:
        """Apply a checked registration. `runner`, when given, is already
        started (a subprocess library's worker); on failure the caller stops it."""
        perms, validators = self._check(registration)
        taken = [n for n in (c.name for c in registration.capabilities) if n in self._capabilities]
        if taken:
            raise RegistrationError(f"capabilities already provided elsewhere: {taken}")
        self.store.register_many(list(registration.entities))
        self.permissions.register(perms)
        try:
            if runner is None:
                runner = self._runner(source, mode)
        except Exception:
            self.permissions.unregister([p.key for p in perms])
            for entity in registration.entities:
                self.store.forget(entity.name)
            raise
        loaded = Loaded(
            registration=registration,
            source=source,
            mode=mode,
            revision=revision,
            config=config,
            runner=runner,
            validators=validators,
            permission_keys=tuple(p.key for p in perms),
        )
        with self._lock:
            self._loaded[source.name] = loaded
            index = dict(self._capabilities)
            for cap in registration.capabilities:
                index[cap.name] = (loaded, cap)
            self._capabilities = index  # swapped whole: readers never see half of it
        log.info(
            "library %s loaded", source.name, extra={"capabilities": len(validators), "mode": mode}
        )

    def _runner(self, source: LibrarySource, mode: str) -> Any:
        if mode == "subprocess" and self.runner_factory is not None:
            runner = self.runner_factory(source, mode)
            runner.start()
            return runner
        return InProcessRunner(source.name)

    def _deactivate(self, name: str) -> None:
        loaded = self._loaded.pop(name, None)
        if loaded is None:
            return
        self._capabilities = {
            key: value for key, value in self._capabilities.items() if value[0] is not loaded
        }
        self.permissions.unregister(loaded.permission_keys)
        for entity in loaded.entity_names:
            self.store.forget(entity)
        loaded.stop()
        log.info("library %s unloaded", name)

    def _require_row(self, name: str) -> dict[str, Any]:
        if name in self.core:
            raise ValidationError({"_": f"{name} is built in and cannot be changed"})
        row = self.state.get(name)
        if row is None:
            raise ValidationError({"_": f"there is no library {name!r}"})
        return row

    def _view(self, name: str, row: dict[str, Any] | None) -> dict[str, Any]:
        loaded = self._loaded.get(name)
        reg = loaded.registration if loaded else None
        view: dict[str, Any] = {
            "name": name,
            "kind": "core" if row is None else row["kind"],
            "ref": name if row is None else row["ref"],
            "enabled": True if row is None else bool(row["enabled"]),
            "mode": "thread" if row is None else row["mode"],
            "status": "loaded" if row is None else row["status"],
            "error": None if row is None else row.get("error"),
            "loaded": loaded is not None,
            "version": (reg.version if reg else (row or {}).get("version")) or "",
            "title": (reg.title if reg else "") or name,
            "description": reg.description if reg else "",
            "capabilities": list(reg.capabilities) if reg else [],
            "permissions": [
                p for p in self.permissions.all() if loaded and p.key in loaded.permission_keys
            ],
            "entities": list(reg.entities) if reg else [],
            "config_fields": list(reg.config) if reg else [],
            "events": list(reg.events) if reg else [],
        }
        if row is not None and loaded is None and row["enabled"] and name in self._failed:
            view["status"], view["error"] = "failed", self._failed[name]
        return view


def secret_fields(specs: Iterable[FieldSpec]) -> frozenset[str]:
    """Names of the secret fields among `specs`."""
    return frozenset(s.name for s in specs if s.secret)
