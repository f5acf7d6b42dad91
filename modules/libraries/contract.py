"""The registration contract between Switchboard and a library.

A library is a Python package with one explicit entry point:

    def register(registry: LibraryRegistry) -> None:
        registry.info(version="1.0", description="A tiny CRM")
        registry.config("api_token", "secret", required=True, help="...")
        registry.entity(Entity("crm_contact", (Field("name", required=True),),
                               tenant_scoped=True))
        registry.event("crm.contact_created")

        @registry.capability(title="Create a contact")
        def create_contact(ctx: Context, name: str, email: str = "") -> dict:
            contact_id = ctx.dao("crm_contact").insert({"name": name, "email": email})
            ctx.emit("crm.contact_created", {"id": contact_id})
            return {"id": contact_id}

`register` only *declares*: the registry collects data and has no effect on
the running app until the library manager has checked all of it and applies
it in one step, so a library whose registration fails registers nothing.
Core modules ship as libraries through this same contract.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from modules.authz import Permission
from modules.datastore import Entity
from modules.libraries.coercion import coercers_for

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CONFIG_TYPES = (
    "text",
    "textarea",
    "integer",
    "number",
    "boolean",
    "choice",
    "multi-choice",
    "date",
    "datetime",
    "email",
    "url",
    "json",
    "secret",
)
DEFAULT_TIMEOUT = 30.0


class RegistrationError(ValueError):
    """A library declared something invalid; the message says what and where."""


@dataclass(frozen=True)
class FieldSpec:  # pylint: disable=too-many-instance-attributes  # mirrors a form field
    """One input field: a config setting, a capability parameter or an entity field.

    `type` is one of CONFIG_TYPES; `secret` values are encrypted at rest and
    never shown again.
    """

    name: str
    type: str = "text"
    label: str = ""
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    secret: bool = False

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise RegistrationError(
                f"field name {self.name!r} must be 1-40 characters a-z, 0-9, _ "
                "and start with a letter"
            )
        if self.type not in CONFIG_TYPES:
            raise RegistrationError(
                f"field {self.name!r} has unknown type {self.type!r}; "
                f"expected one of {', '.join(CONFIG_TYPES)}"
            )
        if self.type in ("choice", "multi-choice") and not self.choices:
            raise RegistrationError(f"field {self.name!r} is a {self.type} and needs choices")
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.type == "secret":
            object.__setattr__(self, "secret", True)

    @property
    def title(self) -> str:
        """The label, or the name made readable."""
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Capability:  # pylint: disable=too-many-instance-attributes  # the declaration
    """A function a library offers, with what it takes and returns."""

    name: str
    library: str
    func: Callable[..., Any]
    title: str
    description: str
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any]
    permission: str
    timeout: float = DEFAULT_TIMEOUT
    takes_context: bool = True
    # Runs in the caller's thread, without the hand-off that enforces the
    # timeout: only for functions that return at once and cannot block.
    inline: bool = False
    # Parameters to convert from JSON values (dates, datetimes, Enum members).
    coercers: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def is_async(self) -> bool:
        """Whether the callable is a coroutine function."""
        return inspect.iscoroutinefunction(self.func)


@dataclass(frozen=True)
class EventSpec:
    """An event name a library may emit, such as `crm.contact_created`."""

    name: str
    description: str = ""


@dataclass
class Registration:  # pylint: disable=too-many-instance-attributes  # collected data
    """Everything one library declared (data only)."""

    name: str
    version: str = ""
    title: str = ""
    description: str = ""
    capabilities: list[Capability] = field(default_factory=list)
    permissions: list[Permission] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    config: list[FieldSpec] = field(default_factory=list)
    events: list[EventSpec] = field(default_factory=list)

    @property
    def use_permission(self) -> str:
        """The permission a capability needs when it names none."""
        return f"{self.name}.use"


# `schema_for(func)` derives (input_schema, output_schema, takes_context) from a
# signature; it lives in modules.libraries.schema and is injected here so the
# contract stays free of that machinery.
SchemaDeriver = Callable[[Callable[..., Any]], tuple[dict[str, Any], dict[str, Any], bool]]


class LibraryRegistry:
    """What `register(registry)` receives. Collects declarations; applies none."""

    def __init__(self, name: str, derive_schema: SchemaDeriver):
        if not NAME.fullmatch(name):
            raise RegistrationError(
                f"library name {name!r} must be 1-40 characters a-z, 0-9, _ "
                "and start with a letter"
            )
        self.result = Registration(name=name)
        self._derive = derive_schema

    @property
    def name(self) -> str:
        """The library's name (prefix of its capabilities and permissions)."""
        return self.result.name

    def info(self, *, version: str = "", title: str = "", description: str = "") -> None:
        """Describe the library for the Libraries screen."""
        self.result.version = str(version)
        self.result.title = title
        self.result.description = description

    def capability(  # pylint: disable=too-many-arguments
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        title: str = "",
        description: str = "",
        input_schema: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
        permission: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        inline: bool = False,
    ) -> Any:
        """Declare a capability; usable as `@registry.capability(...)`, bare
        `@registry.capability` or `registry.capability(func, ...)`.

        The capability is called `<library>.<name>` (name defaults to the
        function's). Schemas are derived from the type hints and defaults
        unless given. A first parameter named `ctx` receives the `Context`.
        `inline=True` runs it in the caller's thread with no timeout: only
        for functions that return at once (no I/O, no waiting).
        """

        def declare(target: Callable[..., Any]) -> Callable[..., Any]:
            short = name or target.__name__
            if not NAME.fullmatch(short):
                raise RegistrationError(f"capability name {short!r} is not allowed")
            if not callable(target):
                raise RegistrationError(f"capability {short!r} is not callable")
            if not 0 < float(timeout) <= 3600:
                raise RegistrationError(f"capability {short!r}: timeout must be 0-3600 s")
            if input_schema is not None and output_schema is not None:
                # Hand-written schemas: the signature (say **values) may be
                # beyond what derivation understands, and need not be.
                params = list(inspect.signature(target).parameters)
                derived_in, derived_out = {}, {}
                takes_context = bool(params) and params[0] == "ctx"
            else:
                derived_in, derived_out, takes_context = self._derive(target)
            doc = inspect.getdoc(target) or ""
            self.result.capabilities.append(
                Capability(
                    name=f"{self.name}.{short}",
                    library=self.name,
                    func=target,
                    title=title or short.replace("_", " ").capitalize(),
                    description=description or doc,
                    input_schema=dict(input_schema) if input_schema else derived_in,
                    output_schema=dict(output_schema) if output_schema else derived_out,
                    permission=permission or self.result.use_permission,
                    timeout=float(timeout),
                    takes_context=takes_context,
                    inline=bool(inline) and not inspect.iscoroutinefunction(target),
                    coercers=coercers_for(target),
                )
            )
            return target

        return declare if func is None else declare(func)

    def permission(
        self,
        key: str,
        description: str,
        *,
        roles: Iterable[str] | None = None,
        platform: bool = False,
    ) -> None:
        """Declare a permission (its key must start with `<library>.`)."""
        if not key.startswith(self.name + "."):
            raise RegistrationError(f"permission {key!r} must start with {self.name + '.'!r}")
        try:
            perm = Permission(
                key,
                description,
                self.result.title or self.name,
                platform=platform,
                roles=None if roles is None else tuple(roles),
            )
        except ValueError as exc:
            raise RegistrationError(str(exc)) from None
        self.result.permissions.append(perm)

    def entity(self, entity: Entity | Mapping[str, Any]) -> None:
        """Declare an entity (a table); its DAO is reachable as `ctx.dao(name)`."""
        if not isinstance(entity, Entity):
            try:
                entity = Entity.from_spec(dict(entity))
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # Entity checks raise SchemaError or ValueError; both mean "bad declaration".
                raise RegistrationError(str(exc)) from None
        self.result.entities.append(entity)

    def config(self, name: str, type: str = "text", **options: Any) -> None:
        """Declare a configuration field (see `FieldSpec` for the options)."""
        # `type` mirrors the form field vocabulary libraries write in.
        # pylint: disable=redefined-builtin
        try:
            self.result.config.append(FieldSpec(name=name, type=type, **options))
        except TypeError as exc:
            raise RegistrationError(f"config field {name!r}: {exc}") from None

    def event(self, name: str, description: str = "") -> None:
        """Declare an event name the library emits (`<library>.<something>`)."""
        if not re.fullmatch(rf"{re.escape(self.name)}\.[a-z][a-z0-9_.]*", name):
            raise RegistrationError(f"event {name!r} must look like {self.name}.something")
        self.result.events.append(EventSpec(name, description))
