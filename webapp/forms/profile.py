"""The signed-in user's own details and API keys."""

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webapp.forms import Form


class ProfileForm(Form):
    """Display name."""

    display_name = StringField("Your name", [DataRequired("Enter your name."), Length(max=200)])


class ApiKeyForm(Form):
    """A new API key's name."""

    name = StringField(
        "Key name",
        [DataRequired("Name the key, so you know later what uses it."), Length(max=100)],
        description="For example the script or service that will use it.",
    )
