"""The Libraries screens (platform operators): the list with the "Add a
library" form, and one library's page with its actions, its config form and
what it registered.

Secrets: the config form never carries a stored secret, and a secret typed
into a form that fails to save is not sent back either (the field renders
empty and says whether a value is stored).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from modules.datastore import ValidationError
from modules.forms import build_form_class, form_values, initial_data
from modules.libraries.contract import FieldSpec
from modules.libraries.manager import LibraryManager
from modules.libraries.state import MODES
from webapp.flash import flash
from webapp.forms import Form
from webapp.gate import route
from webapp.rendering import container, redirect, render

MODE_LABELS = {"thread": "in-process", "subprocess": "subprocess"}


class AddLibraryForm(Form):
    """A folder name under LIBRARIES_DIR or an installed package's import name."""

    ref = StringField(
        "Folder or package",
        [DataRequired("Enter a folder name or an import name."), Length(max=200)],
        description="A package folder in the libraries folder, or an installed "
        "package's import name (such as switchboard_crm).",
    )


def _libraries(request: Request) -> LibraryManager:
    return container(request).libraries


def _library_or_404(request: Request) -> dict[str, Any]:
    view = _libraries(request).library(request.path_params["name"])
    if view is None:
        raise HTTPException(404)
    return view


def _to_library(request: Request, name: str) -> Response:
    """303 to the library's page (`redirect()` takes `name` itself)."""
    return RedirectResponse(request.app.url_path_for("libraries:detail", name=name), 303)


def config_specs(view: dict[str, Any]) -> list[FieldSpec]:
    """The library's config fields, each secret one as a secret input.

    A spec may be `secret=True` with another type (`text`, say); a form
    field of that type would echo the typed value back after a failed
    save, so every secret becomes a password input that never shows one.
    """
    return [
        dataclasses.replace(spec, type="secret") if spec.secret and spec.type != "secret" else spec
        for spec in view["config_fields"]
    ]


def _bind(form: Any, fields: dict[str, str], form_errors: list[str]) -> None:
    """A module's `{field: message}` next to the fields (others above the form)."""
    for name, message in fields.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
        else:
            form_errors.append(message if name == "_" else f"{name}: {message}")


# --- list and add -----------------------------------------------------------------


def _list_page(request: Request, form: AddLibraryForm, status: int = 200) -> Response:
    context = {
        "libraries": _libraries(request).libraries(),
        "form": form,
        "mode_labels": MODE_LABELS,
        "libraries_dir": container(request).settings.libraries_dir,
    }
    return render(request, "libraries/library_list.html", context, status=status)


def library_list(request: Request) -> Response:
    """Every library, built-in ones first; the add form for managers."""
    return _list_page(request, AddLibraryForm())


def library_add(request: Request) -> Response:
    """Add a library; one that fails to load is kept and shows its error."""
    form = AddLibraryForm(request.state.form)
    if not form.validate():
        return _list_page(request, form, 400)
    try:
        row = _libraries(request).add(form.ref.data)
    except ValidationError as exc:
        form.bind_errors(exc.fields)
        return _list_page(request, form, 400)
    name = row["name"]
    if row.get("status") == "failed":
        flash(request, f"{name} is added but failed to load: {row.get('error')}", "error")
    else:
        flash(request, f"{name} is added and loaded.")
    return _to_library(request, name)


# --- one library ------------------------------------------------------------------


def _detail_page(
    request: Request,
    view: dict[str, Any],
    form: Any = None,
    form_errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    libraries = _libraries(request)
    specs = config_specs(view)
    values = libraries.config_values(view["name"]) if view["loaded"] else {}
    if form is None and specs:
        form = build_form_class(specs)(data=initial_data(specs, values))
    context = {
        "library": view,
        "specs": specs,
        "values": values,
        "form": form,
        "config_errors": form_errors or [],
        "mode_labels": MODE_LABELS,
        "modes": MODES,
    }
    return render(request, "libraries/library_view.html", context, status=status)


def library_view(request: Request) -> Response:
    """Status, actions, config form and what the library registered."""
    return _detail_page(request, _library_or_404(request))


def library_config(request: Request) -> Response:
    """Save the config form; a blank secret keeps the stored one."""
    view = _library_or_404(request)
    specs = config_specs(view)
    if view["kind"] == "core" or not view["loaded"] or not specs:
        flash(request, f"{view['name']} has no settings to change right now.", "error")
        return _to_library(request, view["name"])
    form = build_form_class(specs)(request.state.form)
    if not form.validate():
        return _detail_page(request, view, form, status=400)
    try:
        _libraries(request).configure(view["name"], form_values(form, specs, as_json=True))
    except ValidationError as exc:
        form_errors: list[str] = []
        _bind(form, exc.fields, form_errors)
        return _detail_page(request, view, form, form_errors, status=400)
    flash(request, f"The settings of {view['title']} are saved.")
    return _to_library(request, view["name"])


def _act(request: Request, action: Callable[[LibraryManager, str], None], done: str) -> None:
    """Run an admin action on the library and flash how it went."""
    view = _library_or_404(request)
    name = view["name"]
    if view["kind"] == "core":
        flash(request, f"{name} is built in and cannot be changed.", "error")
        return
    try:
        action(_libraries(request), name)
    except ValidationError as exc:
        for message in exc.fields.values():
            flash(request, message, "error")
        return
    after = _libraries(request).library(name) or view
    if after["status"] == "failed":
        flash(request, f"{name} failed to load: {after['error']}", "error")
    else:
        flash(request, f"{after['title']} {done}")


def library_enable(request: Request) -> Response:
    """Load the library again."""
    _act(request, LibraryManager.enable, "is enabled.")
    return _to_library(request, request.path_params["name"])


def library_disable(request: Request) -> Response:
    """Unload the library; its data and settings stay."""
    _act(request, LibraryManager.disable, "is disabled. Its data and settings stay.")
    return _to_library(request, request.path_params["name"])


def library_reload(request: Request) -> Response:
    """Import the library's code afresh."""
    _act(request, LibraryManager.reload, "is reloaded.")
    return _to_library(request, request.path_params["name"])


def library_remove(request: Request) -> Response:
    """Forget the library; its tables and rows stay."""
    view = _library_or_404(request)
    try:
        if view["kind"] == "core":
            raise ValidationError({"_": f"{view['name']} is built in and cannot be removed."})
        _libraries(request).remove(view["name"])
    except ValidationError as exc:
        for message in exc.fields.values():
            flash(request, message, "error")
        return _to_library(request, view["name"])
    flash(request, f"{view['title']} is removed. Its tables and records stay in the database.")
    return redirect(request, "libraries:list")


def library_mode(request: Request) -> Response:
    """Run the library in-process or in a worker process."""
    mode = str(request.state.form.get("mode", ""))
    _act(
        request,
        lambda libraries, name: libraries.set_mode(name, mode),
        "now runs in a subprocess." if mode == "subprocess" else "now runs in-process.",
    )
    return _to_library(request, request.path_params["name"])


def _post(path: str, endpoint: Callable[[Request], Response], name: str) -> Any:
    return route(path, endpoint, permission="libraries.manage", methods=["POST"], name=name)


mount = Mount(
    "/libraries",
    routes=[
        route("/", library_list, permission="libraries.view", name="list"),
        _post("/", library_add, "add"),
        route("/{name}", library_view, permission="libraries.view", name="detail"),
        _post("/{name}/config", library_config, "config"),
        _post("/{name}/enable", library_enable, "enable"),
        _post("/{name}/disable", library_disable, "disable"),
        _post("/{name}/reload", library_reload, "reload"),
        _post("/{name}/remove", library_remove, "remove"),
        _post("/{name}/mode", library_mode, "mode"),
    ],
    name="libraries",
)
