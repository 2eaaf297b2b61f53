"""Headers every page carries: a Content-Security-Policy that allows no inline script without the nonce."""

import pytest

from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_pages_carry_a_content_security_policy_without_inline_scripts(client):
    client.force_login(StaffFactory())

    policy = client.get("/operations/")["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-inline'" not in directives["style-src"]
