"""What a customer does in the browser: sign in, send an invoice and watch it happen, and nothing more."""

import time

import pytest

from core.money import format_money
from orders.models import Invoice, Order
from tests.browser.conftest import sign_in_on
from tests.browser.screenshots import SCREENSHOTS
from tests.factories import PASSWORD, OrderFactory, ProductFactory, StaffFactory
from tests.support.pdf import attachment, pdf_text
from tests.support.processes import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_send_invoice_click_answers_at_once_and_the_state_reaches_done(page, sign_in, live_worker, mailsink):
    order = OrderFactory()
    sign_in(order.customer.user)
    page.screenshot(path=SCREENSHOTS / "orders.png", full_page=True)
    page.click(f"a[href='/orders/{order.pk}/']")
    # Each job's button sits in its row, and an idle job says "not started" once, not twice.
    for job in ("invoice", "charge", "pipeline"):
        assert page.locator(f"#job-{job}").inner_text().count("not started") == 1
    assert page.locator("#job-invoice #send-invoice").is_enabled()

    started = time.perf_counter()
    page.click("#send-invoice")
    page.wait_for_selector("#job-invoice:not([data-state=idle])")
    print(f"\nclick → job state shown: {(time.perf_counter() - started) * 1000:.0f} ms")

    page.wait_for_selector("#job-invoice[data-state=done]")
    assert page.locator("#jobs").get_attribute("hx-trigger") is None  # finished: polling stopped
    # A sent invoice cannot be sent again from the page; the jobs not yet run still can be started.
    assert page.locator("#send-invoice").is_disabled()
    assert page.locator("#charge").is_enabled() and page.locator("#run-pipeline").is_enabled()
    page.screenshot(path=SCREENSHOTS / "order-detail.png", full_page=True)
    messages = wait_until(lambda: mailsink.to(order.customer.email), 30, "invoice email never arrived")
    invoice = Invoice.objects.get(order=order)
    assert invoice.number in pdf_text(attachment(messages[0])[1])
    assert page.url.endswith(f"/orders/{order.pk}/")  # HTMX answered in place, no reload


def test_send_invoice_works_without_javascript(browser, web_server, live_worker, mailsink):
    order = OrderFactory()
    context = browser.new_context(base_url=web_server, java_script_enabled=False)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", order.customer.user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"/orders/{order.pk}/")

    page.click("#send-invoice")

    assert page.locator(".messages").inner_text().startswith("Invoice ")
    wait_until(lambda: mailsink.to(order.customer.email), 30, "invoice email never arrived")
    page.reload()
    assert page.locator("#job-invoice").get_attribute("data-state") == "done"
    context.close()


def test_a_customer_opening_another_customers_order_gets_404(page, sign_in):
    mine, theirs = OrderFactory(), OrderFactory()
    page.goto("/login/")
    page.screenshot(path=SCREENSHOTS / "sign-in.png")
    sign_in(mine.customer.user)

    response = page.goto(f"/orders/{theirs.pk}/")

    assert response.status == 404
    assert page.goto("/operations/").status == 404
    page.goto("/orders/")
    assert page.locator("a", has_text="Admin").count() == 0 and page.locator("a", has_text="Flower").count() == 0


GREY = "rgb(234, 238, 242)"  # the badge of a state with no colour of its own


def test_the_order_list_colours_each_status_and_totals_the_orders_also_on_a_phone(browser, web_server):
    # given a paid, a failed and a new order, seen by staff
    paid = OrderFactory(status=Order.Status.PAID)
    failed = OrderFactory(status=Order.Status.FAILED)
    new = OrderFactory()
    staff = StaffFactory()
    total = format_money(paid.total + failed.total + new.total)

    for viewport in ({"width": 1280, "height": 860}, {"width": 390, "height": 844}):
        context = browser.new_context(base_url=web_server, viewport=viewport, is_mobile=viewport["width"] < 600)
        page = context.new_page()
        sign_in_on(page, staff)

        page.goto("/orders/")

        # then each status has its own colour, none of them the plain grey
        colours = {
            status: page.locator(f".state.order-{status}").evaluate("badge => getComputedStyle(badge).backgroundColor")
            for status in ("paid", "failed", "new")
        }
        assert len(set(colours.values())) == 3 and GREY not in colours.values(), colours
        # and the list ends with how many orders there are and what they add up to, in full on the screen
        assert page.locator("tfoot").inner_text().split() == ["3", "orders", *total.split()]
        box = page.locator("#orders-total").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=SCREENSHOTS / f"order-list-{viewport['width']}.png", full_page=True)
        context.close()


def test_phone_layout_of_an_order(browser, web_server):
    order = OrderFactory()
    context = browser.new_context(base_url=web_server, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", order.customer.user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    page.goto(f"/orders/{order.pk}/")

    # Nothing wider than the screen: the page never scrolls sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=SCREENSHOTS / "order-detail-phone.png", full_page=True)
    context.close()


def test_full_pipeline_shows_each_step_until_fulfilled(page, sign_in, live_worker, mailsink):
    order = OrderFactory()
    sign_in(order.customer.user)
    page.goto(f"/orders/{order.pk}/")

    page.click("#run-pipeline")

    for step in ("Validate", "Charge", "Confirm", "Update inventory"):
        page.wait_for_selector(f"#steps-pipeline li.done:text-is('{step}')")
    page.wait_for_selector("#job-pipeline[data-state=done]")
    assert page.locator("#job-charge").get_attribute("data-state") == "done"
    page.screenshot(path=SCREENSHOTS / "order-pipeline.png", full_page=True)
    confirmation = wait_until(lambda: mailsink.to(order.customer.email), 30, "confirmation never arrived")
    assert confirmation[0]["Subject"] == f"Order #{order.pk} confirmed"


def test_a_pipeline_that_fails_shows_the_reason_in_place(page, sign_in, live_worker):
    product = ProductFactory(name="Ceramic mug", stock=1)
    order = OrderFactory(items=[(product, 2)])
    sign_in(order.customer.user)
    page.goto(f"/orders/{order.pk}/")

    page.click("#run-pipeline")

    page.wait_for_selector("#job-pipeline[data-state=failed]")
    assert "Ceramic mug" in page.locator("#job-pipeline").inner_text()
    assert page.locator("#steps-pipeline li.failed").inner_text() == "Validate"
