"""Site-wide pages: signing out and the favicon."""

import pytest
from django.contrib.auth import SESSION_KEY

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_logout_opened_by_get_asks_with_a_button_and_keeps_the_person_signed_in(client):
    client.force_login(UserFactory(username="ada"))

    response = client.get("/logout/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'action="/logout/"' in page and 'id="sign-out"' in page and "csrfmiddlewaretoken" in page
    assert SESSION_KEY in client.session


def test_logout_opened_by_get_when_signed_out_goes_to_the_login_page(client):
    response = client.get("/logout/")

    assert response.status_code == 302 and response["Location"] == "/login/"


def test_signing_out_lands_on_the_login_page_with_a_notice(client):
    client.force_login(UserFactory())

    response = client.post("/logout/", follow=True)

    assert response.redirect_chain == [("/login/", 302)]
    assert SESSION_KEY not in client.session
    assert [str(message) for message in response.context["messages"]] == ["You are signed out."]


def test_the_favicon_is_an_icon(client):
    response = client.get("/favicon.ico", follow=True)

    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # the ICO header


def test_pages_link_the_favicon(client):
    page = client.get("/login/").content.decode()

    assert '<link rel="icon" href="/static/core/favicon.' in page
