"""Importing a library's code (fresh each time) and running its `register`.

Two kinds of source:
- `package`: an installed package, by import name (`switchboard_crm`);
- `folder`: a package folder under LIBRARIES_DIR (`<dir>/<name>/__init__.py`).

Reloading must pick up changed code, so every load first drops the
library's modules from `sys.modules`; a folder library is imported from its
own path under its own name, never through `sys.path`.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from modules.libraries.contract import (
    NAME,
    LibraryRegistry,
    Registration,
    RegistrationError,
    SchemaDeriver,
)

KINDS = ("package", "folder", "core")


@dataclass(frozen=True)
class LibrarySource:
    """Where a library's code comes from."""

    kind: str
    ref: str
    name: str

    @classmethod
    def package(cls, import_name: str) -> "LibrarySource":
        """An installed package; the library name is its last dotted part."""
        if not all(part.isidentifier() for part in import_name.split(".")):
            raise RegistrationError(f"{import_name!r} is not an import name")
        return cls("package", import_name, import_name.rsplit(".", 1)[-1].lower())

    @classmethod
    def folder(cls, libraries_dir: str | Path, folder_name: str) -> "LibrarySource":
        """A package folder under `libraries_dir` (no path tricks allowed)."""
        if not NAME.fullmatch(folder_name):
            raise RegistrationError(
                f"folder name {folder_name!r} must be a-z, 0-9 and _, starting with a letter"
            )
        path = Path(libraries_dir).resolve() / folder_name
        return cls("folder", str(path), folder_name)


def _purge(prefix: str) -> None:
    for module_name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[module_name]


def folder_module_name(source: LibrarySource) -> str:
    """The private name a folder library is imported under."""
    return f"switchboard_libraries.{source.name}"


def import_source(source: LibrarySource) -> ModuleType:
    """Import the library's top module afresh (code changes are picked up)."""
    importlib.invalidate_caches()
    if source.kind == "package":
        _purge(source.ref)
        return importlib.import_module(source.ref)
    if source.kind == "folder":
        init = Path(source.ref) / "__init__.py"
        if not init.is_file():
            raise RegistrationError(f"{source.ref} is not a package folder (no __init__.py)")
        module_name = folder_module_name(source)
        _purge(module_name)
        # Bytecode is trusted when the source's mtime (whole seconds) and size
        # match, so an edit within the same second could load the old code.
        for cache in Path(source.ref).rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        if "switchboard_libraries" not in sys.modules:
            namespace = ModuleType("switchboard_libraries")
            namespace.__path__ = []  # a namespace for folder libraries only
            sys.modules["switchboard_libraries"] = namespace
        spec = importlib.util.spec_from_file_location(
            module_name, init, submodule_search_locations=[str(init.parent)]
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            _purge(module_name)
            raise
        return module
    raise RegistrationError(f"unknown library source kind {source.kind!r}")


def registration_from_module(module: ModuleType, name: str, derive: SchemaDeriver) -> Registration:
    """Call the module's `register(registry)` and return what it declared."""
    register = getattr(module, "register", None)
    if not callable(register):
        raise RegistrationError(
            f"library {name!r} has no register(registry) function in {module.__name__}"
        )
    registry = LibraryRegistry(name, derive)
    register(registry)
    return registry.result


def load(source: LibrarySource, derive: SchemaDeriver) -> Registration:
    """Import and register; any exception means the library failed to load."""
    return registration_from_module(import_source(source), source.name, derive)
