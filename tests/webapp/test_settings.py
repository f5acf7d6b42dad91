"""Settings: defaults, parsing, clear errors, `.env` files and precedence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from webapp.settings import VARIABLES, Settings, SettingsError
from webapp.config_docs import env_example, readme_table
from webapp.paths import ROOT


def load(**environ: str) -> Settings:
    """Settings from exactly these variables, ignoring any real .env file."""
    return Settings.load(environ=environ, env_file=None)


def test_defaults() -> None:
    """With nothing set, the app runs on embedded SQLite under ./data."""
    settings = load()
    for var in VARIABLES:
        assert getattr(settings, var.name.lower()) == var.parse(var.default), var.name
    expected = {
        "base_url": "http://127.0.0.1:8000",
        "secret_key": "",
        "db_path": "./data",
        "db_name": "switchboard.db",
        "db_port": None,
        "db_user": "",
        "db_pass": "",
        "log_level": "INFO",
        "log_format": "text",
        "log_file": "",
        "log_console": True,
        "host": "127.0.0.1",
        "port": 8000,
        "workers": 1,
    }
    assert {name: getattr(settings, name) for name in expected} == expected
    assert settings.data_dir == Path("data")
    assert settings.database_file == Path("data") / "switchboard.db"
    assert settings.secure_cookies is False


def test_every_variable_maps_to_a_field() -> None:
    """VARIABLES and the dataclass agree, and each default parses."""
    names = [var.name.lower() for var in VARIABLES]
    assert names == [field.name for field in dataclasses.fields(Settings)]
    for var in VARIABLES:
        var.parse(var.default)
        assert var.accepts and var.help


@pytest.mark.parametrize("value", ["abc", "0", "65536", "-1", "54.3", "5432x"])
def test_bad_db_port_names_the_variable_and_what_it_accepts(value: str) -> None:
    """One line: the variable, the value given and the accepted form."""
    with pytest.raises(SettingsError) as caught:
        load(DB_PORT=value)
    assert str(caught.value) == (
        f"DB_PORT={value!r} is not valid: expected empty or a port number 1-65535"
    )


def test_good_db_port_values() -> None:
    """A number is parsed; empty or blank means unset."""
    assert load(DB_PORT="5432").db_port == 5432
    assert load(DB_PORT=" 65535 ").db_port == 65535
    assert load(DB_PORT="").db_port is None
    assert load(DB_PORT="  ").db_port is None


def test_unknown_log_level_names_log_level() -> None:
    """The message names LOG_LEVEL and lists the levels."""
    with pytest.raises(SettingsError) as caught:
        load(LOG_LEVEL="verbose")
    message = str(caught.value)
    assert message.startswith("LOG_LEVEL='verbose' is not valid")
    assert "DEBUG, INFO, WARNING, ERROR, CRITICAL" in message


def test_log_level_and_format_are_case_insensitive() -> None:
    """Levels are normalised upper-case, formats lower-case."""
    settings = load(LOG_LEVEL="debug", LOG_FORMAT="JSON")
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    with pytest.raises(SettingsError, match="LOG_FORMAT='xml'.*text or json"):
        load(LOG_FORMAT="xml")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        (" on ", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_booleans_parse(raw: str, expected: bool) -> None:
    """The usual spellings of true and false are accepted."""
    assert load(LOG_CONSOLE=raw).log_console is expected


@pytest.mark.parametrize("raw", ["maybe", "", "2", "tru"])
def test_bad_booleans_are_refused(raw: str) -> None:
    """Anything else names the variable."""
    with pytest.raises(SettingsError, match="LOG_CONSOLE=.*expected true or false"):
        load(LOG_CONSOLE=raw)


def test_base_url_https_turns_on_secure_cookies() -> None:
    """https -> Secure cookies; a trailing slash is dropped; other schemes are refused."""
    settings = load(BASE_URL="https://switchboard.example.com/")
    assert settings.base_url == "https://switchboard.example.com"
    assert settings.secure_cookies is True
    assert load(BASE_URL="http://example.com").secure_cookies is False
    with pytest.raises(SettingsError, match="BASE_URL='ftp://example.com'.*http:// or https://"):
        load(BASE_URL="ftp://example.com")


@pytest.mark.parametrize(
    ("name", "value"), [("PORT", "http"), ("PORT", "0"), ("WORKERS", "0"), ("WORKERS", "many")]
)
def test_other_numbers_are_checked(name: str, value: str) -> None:
    """PORT and WORKERS refuse values they cannot use, naming themselves."""
    with pytest.raises(SettingsError, match=f"^{name}="):
        load(**{name: value})


def test_numbers_parse() -> None:
    """PORT and WORKERS become ints."""
    settings = load(PORT="9000", WORKERS="4")
    assert (settings.port, settings.workers) == (9000, 4)


def test_dotenv_file_is_read_and_environment_overrides_it(tmp_path: Path) -> None:
    """Values come from .env unless the environment sets them; defaults fill the rest."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# local settings\n"
        "DB_PATH=/srv/switchboard\n"
        'DB_NAME="board.sqlite"\n'
        "PORT=9001\n"
        "LOG_FORMAT=json\n"
        "LOG_CONSOLE=off\n",
        encoding="utf-8",
    )
    from_file = Settings.load(environ={}, env_file=env_file)
    assert from_file.database_file == Path("/srv/switchboard/board.sqlite")
    assert (from_file.port, from_file.log_format, from_file.log_console) == (9001, "json", False)
    assert from_file.host == "127.0.0.1"
    both = Settings.load(environ={"PORT": "9002", "LOG_CONSOLE": "yes"}, env_file=env_file)
    assert (both.port, both.log_console, both.db_name) == (9002, True, "board.sqlite")


def test_bad_value_in_dotenv_is_reported_too(tmp_path: Path) -> None:
    """A .env mistake gets the same clear message."""
    env_file = tmp_path / ".env"
    env_file.write_text("DB_PORT=abc\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="DB_PORT='abc'"):
        Settings.load(environ={}, env_file=env_file)
    assert Settings.load(environ={"DB_PORT": "1"}, env_file=env_file).db_port == 1


def test_missing_env_file_is_fine(tmp_path: Path) -> None:
    """A path that does not exist just means no file."""
    assert Settings.load(environ={}, env_file=tmp_path / "nope.env") == load()


def test_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """environ=None reads os.environ."""
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.setenv("PORT", "9100")
    monkeypatch.setenv("LOG_LEVEL", "error")
    settings = Settings.load(env_file=None)
    assert (settings.port, settings.log_level) == (9100, "ERROR")


def test_overrides_and_unknown_settings() -> None:
    """Keyword overrides win; an unknown one is a SettingsError."""
    assert Settings.load(environ={}, env_file=None, port=1234).port == 1234
    with pytest.raises(SettingsError, match="unknown settings: colour"):
        Settings.load(environ={}, env_file=None, colour="red")


def test_settings_error_is_a_value_error() -> None:
    """Callers that catch ValueError still catch it."""
    assert issubclass(SettingsError, ValueError)


def test_env_example_and_readme_document_every_variable() -> None:
    """`uv run python -m webapp.config_docs` regenerates both when this fails."""
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == env_example()
    assert readme_table() in (ROOT / "README.md").read_text(encoding="utf-8")
