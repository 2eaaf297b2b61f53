"""`docker-compose up` on the real docker-compose.yml and the image from the real Dockerfile, used as a person
uses it: over HTTP on the published ports only."""

import json
import re

import pytest

from tests.compose.conftest import FormFields, http_get, service_ready, wait_for


def test_every_service_is_healthy_and_migrate_completed(healthy_stack):
    containers = healthy_stack.containers()

    assert set(containers) == {
        "migrate",
        "web",
        "proxy",
        "worker-default",
        "worker-email",
        "worker-bulk",
        "beat",
        "flower",
        "relay",
        "redis",
        "postgres",
        "mailpit",
    }
    assert [name for name, record in containers.items() if not service_ready(record)] == []


@pytest.fixture(scope="session")
def first_order(staff) -> int:
    return int(re.search(r'href="/orders/(\d+)/"', staff.get("orders/")).group(1))


@pytest.fixture(scope="session")
def invoice_email(staff, mailpit, first_order) -> dict:
    landing, page = staff.post_form(f"orders/{first_order}/send-invoice/", f"orders/{first_order}/")
    assert landing == f"/orders/{first_order}/"
    number = re.search(r"Invoice (\S+) queued\.", page).group(1)
    return mailpit.wait_for_subject(f"Your invoice {number}")


def test_send_invoice_emails_the_pdf(invoice_email, mailpit):
    [attachment] = invoice_email["Attachments"]

    assert attachment["ContentType"] == "application/pdf"
    assert mailpit.part(invoice_email["ID"], attachment["PartID"]).startswith(b"%PDF-")


def test_the_full_pipeline_fulfils_the_order_and_confirms_it(staff, mailpit):
    orders = [int(pk) for pk in re.findall(r'href="/orders/(\d+)/"', staff.get("orders/"))]
    order = orders[-1]

    staff.post_form(f"orders/{order}/run-pipeline/", f"orders/{order}/")

    wait_for(
        lambda: "Order status: <strong>Fulfilled</strong>" in staff.get(f"orders/{order}/jobs/"),
        120,
        f"order #{order} never reached Fulfilled",
    )
    assert mailpit.wait_for_subject(f"Order #{order} confirmed")["To"]


def test_flower_wants_its_login_and_then_lists_the_task(healthy_stack, invoice_email):
    flower = healthy_stack.url("flower")
    user, password = healthy_stack.env["FLOWER_BASIC_AUTH"].split(":", 1)

    assert http_get(flower + "api/tasks")[0] == 401

    def invoice_task_listed():
        status, body = http_get(flower + "api/tasks", basic=(user, password))
        assert status == 200
        return [t for t in json.loads(body).values() if t["name"] == "orders.send_invoice_email"]

    [task] = wait_for(invoice_task_listed, 30, "Flower never listed orders.send_invoice_email")
    assert task["state"] == "SUCCESS"


def test_metrics_answer_only_with_the_token_and_count_the_task(healthy_stack, invoice_email):
    metrics = healthy_stack.url("web", "metrics")

    assert http_get(metrics)[0] == 401
    status, body = http_get(metrics, bearer=healthy_stack.env["METRICS_TOKEN"])

    assert status == 200
    assert re.search(r'celery_tasks_total\{[^}]*task="orders\.send_invoice_email"', body.decode())


def test_a_periodic_task_rescheduled_in_admin_is_run_by_beat(healthy_stack, staff):
    # when staff re-time the hourly cart cleanup to every 10 seconds in admin
    listing = staff.get("admin/django_celery_beat/periodictask/?q=Clean+up+expired+carts")
    task_page = re.search(r'href="/(admin/django_celery_beat/periodictask/\d+/change/)', listing).group(1)
    form = FormFields(staff.get(task_page)).fields
    retimed = {"runs": "every", "every": "10", "every_unit": "seconds", "_save": "Save"}
    landing, _ = staff.post(task_page, form | retimed)
    assert landing.endswith("/periodictask/")

    # then the running beat sends it every 10 seconds and a worker runs it: Flower lists the runs
    flower = healthy_stack.url("flower")
    user, password = healthy_stack.env["FLOWER_BASIC_AUTH"].split(":", 1)

    def cleanup_runs():
        status, body = http_get(flower + "api/tasks?taskname=orders.cleanup_expired_carts", basic=(user, password))
        assert status == 200
        runs = [
            t
            for t in json.loads(body).values()
            if t["name"] == "orders.cleanup_expired_carts" and t["state"] == "SUCCESS"
        ]
        return runs[1:]  # two or more

    wait_for(cleanup_runs, 90, "beat never ran the rescheduled cart cleanup twice")
