"""What staff do in the browser: send a newsletter and watch it go out, import contacts and fix the bad rows."""

import time
from pathlib import Path

import pytest

from notifications.models import Delivery
from notifications.services import subscribers_demo_create
from tests.accounts.csv_files import contacts_csv, generated_rows
from tests.browser.screenshots import SCREENSHOTS
from tests.factories import StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_newsletter_to_1000_subscribers_fills_the_bar_to_100_percent(page, sign_in, live_worker, mailsink):
    subscribers_demo_create(count=1_000)
    sign_in(StaffFactory())
    page.click("text=Newsletters")
    page.fill("#subject", "Autumn roast is here")
    page.fill("#body", "Three new single origins, roasted this week.")

    page.click("#send-newsletter")

    page.wait_for_selector("#progress[data-status=sending]")
    started = time.perf_counter()
    page.wait_for_selector("#progress[data-status=sent]", timeout=180_000)
    print(f"\n1,000-subscriber newsletter: bar at 100 % after {time.perf_counter() - started:.1f} s")
    page.screenshot(path=SCREENSHOTS / "newsletter-progress.png", full_page=True)
    assert page.locator("#percent").inner_text() == "100 %"
    assert "1000 sent · 0 skipped · 0 failed · 1000 total" in page.locator("#progress-figures").inner_text()
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 1_000
    assert len(mailsink.to("subscriber1000@example.com")) == 1


def test_an_import_with_bad_rows_reports_them_for_download(page, sign_in, live_worker, tmp_path):
    rows = generated_rows(500) + [("not-an-email", "Broken", "", ""), ("", "No address", "", "")]
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_bytes(contacts_csv(rows))
    sign_in(StaffFactory())
    page.click("text=Imports")

    page.set_input_files("#file", csv_file)
    page.click("#upload")

    page.wait_for_selector("#progress[data-status=done]")
    assert page.locator("#failed-rows").inner_text() == "2"
    page.screenshot(path=SCREENSHOTS / "import-done.png", full_page=True)
    with page.expect_download() as download:
        page.click("#download-errors")
    report = Path(download.value.path()).read_text().splitlines()
    assert report[0] == "row,email,message" and len(report) == 3
    assert report[1].startswith("502,not-an-email,") and report[2].startswith("503,,")
