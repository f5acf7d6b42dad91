"""Sign-in, first-run setup and password forms."""

from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from webapp.forms import Form

EMAIL_HELP = "Your email address is your username."


class LoginForm(Form):
    """Username and password."""

    username = StringField("Email", [DataRequired("Enter your email address.")])
    password = PasswordField("Password", [DataRequired("Enter your password.")])
    next = HiddenField()


class NewPasswordMixin:
    """A password typed twice."""

    password = PasswordField(
        "New password",
        [DataRequired("Choose a password."), Length(min=10, message="Use at least 10 characters.")],
        description="At least 10 characters, and not your email address.",
    )
    confirm = PasswordField(
        "Repeat the password", [EqualTo("password", message="The two passwords differ.")]
    )


class SetupForm(NewPasswordMixin, Form):
    """The first owner of a brand-new installation."""

    account_name = StringField(
        "Operator account name",
        [DataRequired("Name the account that holds this installation's operators.")],
        default="Operators",
    )
    display_name = StringField("Your name", [DataRequired("Enter your name.")])
    username = StringField("Email", [DataRequired("Enter your email address.")])


class ForgotForm(Form):
    """Ask for a reset link."""

    username = StringField("Email", [DataRequired("Enter your email address.")])


class ResetForm(NewPasswordMixin, Form):
    """Set a new password with a reset token."""

    token = HiddenField()


class ChangePasswordForm(NewPasswordMixin, Form):
    """Change one's own password."""

    current_password = PasswordField(
        "Current password", [DataRequired("Enter your current password.")]
    )
