"""docs/writing-a-library.md stays true: its complete example loads and
works, and it lists every config type and schema keyword there is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from modules.libraries.contract import CONFIG_TYPES
from modules.libraries.schema import FORMATS, SUPPORTED_KEYWORDS, TYPES
from tests.conftest import make_settings
from webapp.container import Container

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "writing-a-library.md"
EXAMPLES_README = ROOT / "examples" / "README.md"


def complete_example() -> str:
    """The first python block after the "A complete example" heading."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## A complete example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the guide has no complete example"
    return match.group(1)


def test_the_complete_example_loads_and_works(tmp_path: Path) -> None:
    folder = tmp_path / "libs" / "crm"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(complete_example(), encoding="utf-8")
    settings = make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(folder.parent))
    services = Container.build(settings)
    try:
        services.libraries.start()
        row = services.libraries.add("crm")
        assert row["status"] == "loaded", row["error"]
        services.libraries.configure("crm", {"api_token": "doc-token", "page_size": 1})
        account = services.tenants.create_account("Acme")
        allowed = frozenset({"crm.use", "crm.export"})

        def call(capability: str, **params: object) -> Any:
            result = services.libraries.invoke(
                capability, params, permissions=allowed, account_id=account
            )
            assert result.ok, result.error
            return result.output

        created = call("crm.create_contact", name="Ada", email="Ada@example.com", vip=True)
        assert created == {
            "id": 1,
            "name": "Ada",
            "email": "ada@example.com",
            "company": None,
            "vip": True,
        }
        call("crm.create_contact", name="Bob", email="bob@example.com")
        assert call("crm.find_contacts", vip_only=True)["count"] == 1
        export = call("crm.export_contacts")
        assert (export["count"], export["signed"]) == (2, True)
        view = services.libraries.library("crm")
        assert {p.key for p in view["permissions"]} == {
            "crm.use",
            "crm.export",
            "crm_contact.view",
            "crm_contact.manage",
        }
    finally:
        services.close()


def test_the_guide_lists_every_config_type_and_schema_keyword() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for name in (*CONFIG_TYPES, *SUPPORTED_KEYWORDS, *TYPES, *FORMATS):
        assert f"`{name}`" in text, name


def test_the_examples_readme_names_both_ways_to_load_them() -> None:
    text = EXAMPLES_README.read_text(encoding="utf-8")
    assert "LIBRARIES_DIR" in text and "webapp demo" in text
