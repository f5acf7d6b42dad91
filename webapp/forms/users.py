"""Forms of the user screens: a user's details and roles, and the access editor."""

from __future__ import annotations

from typing import Iterable, Mapping

from wtforms import PasswordField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, Length, StopValidation
from wtforms.validators import ValidationError as FieldError

from webapp.forms import Form, MultiCheckboxField

MIN_PASSWORD = 10
INVITE = "invite"
SET_PASSWORD = "password"
INHERIT = "inherit"
ACCESS_CHOICES = (INHERIT, "allow", "deny")


class UserForm(Form):
    """Email, name and roles (choices: the account's roles, set per request)."""

    username = StringField(
        "Email",
        [DataRequired("Enter an email address."), Length(max=254)],
        description="The address is also the username they sign in with.",
    )
    display_name = StringField("Name", [DataRequired("Enter a name."), Length(max=100)])
    roles = MultiCheckboxField("Roles", coerce=int, choices=[])

    def set_role_choices(self, roles: Iterable[Mapping]) -> None:
        """Offer these roles (dicts with "id" and "name")."""
        self.roles.choices = [SelectChoice(role["id"], role["name"]) for role in roles]

    def validate_roles(self, field: MultiCheckboxField) -> None:
        """Only roles that were offered (the module checks the account too)."""
        offered = {choice.value for choice in field.choices or ()}
        if any(value not in offered for value in field.data or ()):
            raise FieldError("Choose roles from the list.")


class EditUserForm(UserForm):
    """An existing user's email, name and roles."""


class NewUserForm(UserForm):
    """A new user: invited by mail (the default) or given a password now."""

    setup = RadioField(
        "How they get a password",
        choices=[
            SelectChoice(
                INVITE, "Send an invitation by email (they choose a password through the link)"
            ),
            SelectChoice(SET_PASSWORD, "Set a password now"),
        ],
        default=INVITE,
    )
    password = PasswordField(
        "Password",
        description=f"At least {MIN_PASSWORD} characters, and not the email address.",
    )
    confirm = PasswordField("Repeat the password")

    @property
    def wants_password(self) -> bool:
        """Whether the password fields count."""
        return self.setup.data == SET_PASSWORD

    def validate_password(self, field: PasswordField) -> None:
        """Required, and long enough, when a password is set now."""
        if not self.wants_password:
            return
        if not field.data:
            raise StopValidation("Choose a password.")
        if len(field.data) < MIN_PASSWORD:
            raise FieldError(f"Use at least {MIN_PASSWORD} characters.")

    def validate_confirm(self, field: PasswordField) -> None:
        """Typed the same twice, when a password is set now."""
        if self.wants_password and field.data != self.password.data:
            raise FieldError("The two passwords differ.")


class AccessForm:
    """The per-user access editor: for each permission, inherit, allow or deny.

    Not a WTForms class, because its fields are the account's grantable
    permissions, which are only known per request. Inputs are named
    `acl.<permission key>`; `form_errors` and `errors` (by key) work with the
    `form_errors` macro and the template.
    """

    PREFIX = "acl."

    def __init__(self, choices: dict[str, str]):
        self.choices = choices
        self.errors: dict[str, list[str]] = {}
        self.form_errors: list[str] = []

    @classmethod
    def from_acl(cls, keys: Iterable[str], acl: Mapping[str, str]) -> "AccessForm":
        """The user's current overrides (every other key inherits)."""
        return cls({key: acl.get(key, INHERIT) for key in keys})

    @classmethod
    def from_formdata(cls, keys: Iterable[str], formdata: Mapping[str, str]) -> "AccessForm":
        """What was posted; a key left out inherits."""
        return cls({key: str(formdata.get(cls.PREFIX + key, INHERIT)) for key in keys})

    def validate(self) -> bool:
        """Every choice is one of inherit, allow, deny."""
        for key, value in self.choices.items():
            if value not in ACCESS_CHOICES:
                self.add_error(key, "Choose inherit, allow or deny.")
        return not self.errors

    def add_error(self, key: str, message: str) -> None:
        """A message next to one permission."""
        self.errors.setdefault(key, []).append(message)

    def entries(self) -> dict[str, str]:
        """The overrides to store: every key not left to inherit."""
        return {key: value for key, value in self.choices.items() if value != INHERIT}

    def bind_errors(self, errors: Mapping[str, str]) -> None:
        """Errors of `Authz.set_user_acl` (they name keys in their text)."""
        self.form_errors.extend(errors.values())
