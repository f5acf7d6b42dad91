"""Forms of the platform's accounts screens."""

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webapp.forms import Form

NAME_MAX = 200


class AccountForm(Form):
    """An account's name."""

    name = StringField("Account name", [DataRequired("Name the account."), Length(max=NAME_MAX)])


class NewAccountForm(AccountForm):
    """A new account and, optionally, its first Owner (invited by mail)."""

    owner_email = StringField("First owner's email", [Length(max=254)])
    owner_name = StringField("First owner's name", [Length(max=NAME_MAX)])

    def validate(self, extra_validators=None) -> bool:
        """The owner's email and name go together: both or neither."""
        valid = super().validate(extra_validators)
        email = (self.owner_email.data or "").strip()
        name = (self.owner_name.data or "").strip()
        if email and not name:
            self.owner_name.errors = [*self.owner_name.errors, "Enter the owner's name."]
            valid = False
        if name and not email:
            self.owner_email.errors = [*self.owner_email.errors, "Enter the owner's email."]
            valid = False
        return valid

    @property
    def owner(self) -> tuple[str, str] | None:
        """(email, name) of the first owner, or None when none was given."""
        email = (self.owner_email.data or "").strip()
        return (email, (self.owner_name.data or "").strip()) if email else None
