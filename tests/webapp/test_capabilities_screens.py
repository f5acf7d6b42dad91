"""The capability catalogue and a capability's page over HTTP: active search
(full page and htmx partial), schemas, and "Try it" (success, field errors
from the form and from the capability's schema, a failing capability, a
missing permission), as the platform Owner and as a customer Admin."""

from __future__ import annotations

import html
import json
import re

from starlette.testclient import TestClient

from tests.webapp.helpers import csrf
from tests.webapp.test_libraries_screens import (  # pylint: disable=unused-import
    SECRET,
    Site,
    add,
    assert_no_secret,
    fixture_site,  # the shared fixture, registered here by import
    other_client,
    owner_client,
    post,
    text_of,
    try_it,
)


def _with_greeter(site: Site) -> TestClient:
    web = owner_client(site)
    assert add(web, "greeter").status_code == 303
    data = {"greeting": "", "repeat": "1", "api_token": SECRET}
    assert (
        post(web, "/libraries/greeter/config", data, page="/libraries/greeter").status_code == 303
    )
    return web


def _output(page: str) -> object:
    """The JSON shown in the result's <pre id="try-output">."""
    match = re.search(r'<pre id="try-output">(.*?)</pre>', page, re.S)
    assert match, "no output shown"
    return json.loads(html.unescape(match.group(1)))


# --- catalogue ------------------------------------------------------------------------


def test_catalogue_lists_every_capability_with_its_permission(site: Site) -> None:
    web = _with_greeter(site)
    page = web.get("/capabilities/")
    assert page.status_code == 200
    for name in ("util.noop", "util.set", "greeter.greet", "greeter.admin_only"):
        assert f'href="/capabilities/{name}"' in page.text
    row = re.search(
        r'<tr>\s*<td>\s*<a href="/capabilities/greeter.greet">.*?</tr>', page.text, re.S
    )
    assert row
    cells = text_of(row.group(0))
    assert "Greet someone" in cells and "greeter" in cells
    assert "Says hello to someone." in cells and "Args:" not in cells
    assert "greeter.use" in cells
    admin_row = re.search(
        r'<tr>\s*<td>\s*<a href="/capabilities/greeter.admin_only">.*?</tr>', page.text, re.S
    )
    assert admin_row and "greeter.admin" in admin_row.group(0)
    assert 'hx-target="#capability-table"' in page.text


def test_search_works_as_a_page_and_as_an_htmx_partial(site: Site) -> None:
    web = _with_greeter(site)
    full = web.get("/capabilities/", params={"q": "hello"})
    assert full.status_code == 200
    assert "<html" in full.text and 'value="hello"' in full.text
    assert "greeter.greet" in full.text and "util.noop" not in full.text

    partial = web.get(
        "/capabilities/",
        params={"q": "WAIT"},
        headers={"HX-Request": "true", "HX-Target": "capability-table"},
    )
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith(("{#", '<div id="capability-table">'))
    assert "<html" not in partial.text and "<nav" not in partial.text
    assert "util.delay" in partial.text and "greeter.greet" not in partial.text
    assert partial.headers["vary"] == "HX-Target"

    # A boosted link (HX-Request without our target) gets the whole page.
    boosted = web.get("/capabilities/", params={"q": "wait"}, headers={"HX-Request": "true"})
    assert "<html" in boosted.text

    none = web.get("/capabilities/", params={"q": "<no such thing>"})
    assert "No capability matches “&lt;no such thing&gt;”" in none.text


# --- one capability -----------------------------------------------------------------------


def test_capability_page_shows_schemas_and_a_generated_form(site: Site) -> None:
    web = _with_greeter(site)
    page = web.get("/capabilities/greeter.greet")
    assert page.status_code == 200
    schema = re.search(r'<pre class="schema" id="input-schema">(.*?)</pre>', page.text, re.S)
    shown = json.loads(html.unescape(schema.group(1)))
    assert shown == dict(site.services.libraries.capability("greeter.greet").input_schema)
    assert '\n  "type": "object"' in html.unescape(schema.group(1))  # pretty, indented
    assert re.search(r'<pre class="schema" id="output-schema">', page.text)
    form = re.search(
        r'<form method="post" action="/capabilities/greeter.greet/try".*?</form>', page.text, re.S
    )
    assert form and 'name="name"' in form.group(0) and 'name="shout"' in form.group(0)
    assert 'type="checkbox"' in form.group(0)
    assert 'hx-target="#try-it"' in form.group(0)
    assert "Who to greet." in form.group(0)  # the docstring's Args: line is the help
    assert web.get("/capabilities/greeter.nothing").status_code == 404
    assert web.get("/capabilities/nothing").status_code == 404


def test_try_it_shows_output_duration_and_logs(site: Site) -> None:
    web = _with_greeter(site)
    page = try_it(web, "greeter.greet", {"name": "Ada", "shout": "y"})
    assert page.status_code == 200
    assert "<html" in page.text
    output = _output(page.text)
    assert output["text"] == "HELLO, ADA" and output["token_length"] == len(SECRET)
    assert re.search(r"in \d+\.\d ms", page.text)
    assert re.search(r"INFO</span> <code>greeting Ada</code>", page.text)
    assert 'value="Ada"' in page.text  # the form keeps what was typed

    partial = try_it(web, "greeter.greet", {"name": "Bea"}, htmx=True)
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith(("{#", '<div id="try-it">'))
    assert "<html" not in partial.text
    assert _output(partial.text)["text"] == "Hello, Bea"

    noop = try_it(web, "util.noop", {})
    assert (
        noop.status_code == 200
        and "It takes no parameters." in web.get("/capabilities/util.noop").text
    )
    assert _output(noop.text) is None
    assert_no_secret(site)


def test_try_it_free_form_parameters_are_one_json_field(site: Site) -> None:
    web = owner_client(site)
    page = web.get("/capabilities/util.set")
    assert 'name="params"' in page.text
    result = try_it(web, "util.set", {"params": '{"a": 1, "b": [true, null]}'})
    assert result.status_code == 200
    assert _output(result.text) == {"a": 1, "b": [True, None]}
    not_object = try_it(web, "util.set", {"params": "[1, 2]"})
    assert not_object.status_code == 400
    assert re.search(r'id="params-error">Enter a JSON object', not_object.text)
    broken = try_it(web, "util.set", {"params": "{oops"})
    assert broken.status_code == 400 and "Enter valid JSON" in broken.text


def test_try_it_validation_errors_sit_next_to_their_fields(site: Site) -> None:
    web = _with_greeter(site)
    # The form's own checks: a required field left blank, a number that is not one.
    blank = try_it(web, "greeter.check", {"code": "", "count": "two"})
    assert blank.status_code == 400
    assert re.search(r'id="code-error">This field is required.<', blank.text)
    assert re.search(r'id="count-error">Enter a whole number.<', blank.text)
    assert "try-output" not in blank.text

    # The capability's schema: a pattern and a minimum the form cannot check.
    bad = try_it(web, "greeter.check", {"code": "abc", "count": "0"})
    assert bad.status_code == 400
    assert re.search(r'id="code-error">[^<]*pattern[^<]*<', bad.text)
    assert re.search(r'id="count-error">[^<]*1[^<]*<', bad.text)
    assert "Some parameters are not valid" in bad.text

    partial = try_it(web, "greeter.check", {"code": "abc", "count": "1"}, htmx=True)
    assert partial.status_code == 200 and "<html" not in partial.text
    assert re.search(r'id="code-error">[^<]*pattern[^<]*<', partial.text)

    # Blank optional inputs: a non-null one takes its default, a nullable one is null.
    good = try_it(web, "greeter.check", {"code": "ABC", "count": "", "note": ""})
    assert good.status_code == 200
    assert _output(good.text) == {"code": "ABC", "count": 1, "note": None}


def test_a_capability_that_raises_shows_its_error(site: Site) -> None:
    web = _with_greeter(site)
    failed = try_it(web, "greeter.explode", {"reason": "<on purpose>"})
    assert failed.status_code == 502
    assert "RuntimeError: exploded &lt;on purpose&gt;" in failed.text
    assert "It failed" in failed.text and ">error<" in failed.text
    assert "try-output" not in failed.text
    partial = try_it(web, "greeter.explode", {}, htmx=True)
    assert partial.status_code == 200 and "exploded on purpose" in partial.text


def test_try_it_without_the_capability_permission_is_refused(site: Site) -> None:
    owner = _with_greeter(site)
    assert _output(try_it(owner, "greeter.admin_only", {}).text) == "admin ok"
    admin = other_client(site, "admin@customer.test")
    page = admin.get("/capabilities/greeter.admin_only")
    assert page.status_code == 200
    assert "you do not have it" in page.text
    refused = try_it(admin, "greeter.admin_only", {})
    assert refused.status_code == 403
    assert "You do not have permission to run this capability" in refused.text
    assert "greeter.admin" in refused.text and "admin ok" not in refused.text
    partial = try_it(admin, "greeter.admin_only", {}, htmx=True)
    assert partial.status_code == 200 and "Not allowed" in partial.text


def test_customer_admin_tries_a_capability_in_their_own_account(site: Site) -> None:
    _with_greeter(site)
    admin = other_client(site, "admin@customer.test")
    page = try_it(admin, "greeter.greet", {"name": "Cai"})
    assert page.status_code == 200
    assert _output(page.text)["text"] == "Hello, Cai"
    # Only capabilities.view reaches the page; anonymous visitors go to the login page.
    anonymous = TestClient(site.web.app)
    response = anonymous.post(
        "/capabilities/greeter.greet/try",
        data={"name": "x", "csrf_token": csrf(anonymous)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert anonymous.get("/capabilities/", follow_redirects=False).status_code == 303
    assert_no_secret(site)
