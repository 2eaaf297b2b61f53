"""What a first-time user meets signing in and out."""

import re

import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_wrong_password_is_reported_inside_the_sign_in_card_as_an_error(page):
    user = UserFactory()
    page.goto("/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "not-the-password")

    with page.expect_navigation():
        page.click("button[type=submit]")

    error = page.get_by_text(re.compile("correct username and password|didn't match"))
    shown = error.evaluate(
        """element => ({
            inCard: element.closest('.card') !== null,
            display: getComputedStyle(element).display,
            background: getComputedStyle(element.closest('[role=alert]') || element).backgroundColor,
        })"""
    )
    assert shown["inCard"]
    assert shown["display"] != "list-item"  # no bare bullet
    assert shown["background"] == "rgb(255, 235, 233)"  # the stylesheet's error tint


def test_signing_out_says_so_on_the_sign_in_page(page, sign_in):
    sign_in(UserFactory())

    with page.expect_navigation():
        page.click("header >> text=Sign out")

    assert page.url.endswith("/login/")
    notice = page.locator(".messages li.success")
    assert notice.inner_text() == "You are signed out."
    assert page.locator("#id_username").is_visible()
