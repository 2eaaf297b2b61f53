"""The invoice's sent mark commits before the SMTP conversation ends: once the server has accepted the mail,
only the commit is left in which a crash would send it again."""

import asyncio

import pytest
from aiosmtpd.controller import Controller
from django import db

from orders import services
from orders.models import Invoice
from tests.factories import OrderFactory
from tests.support.embedded import free_port

pytestmark = pytest.mark.django_db(transaction=True)


class SentMarkAtQuit:
    """An SMTP server that, when the client says QUIT, reads the invoice's sent mark on a connection of its own."""

    def __init__(self):
        self.order_id = None
        self.accepted = 0
        self.marks_seen_at_quit = []

    async def handle_DATA(self, server, session, envelope):
        self.accepted += 1
        return "250 Message accepted"

    async def handle_QUIT(self, server, session, envelope):
        self.marks_seen_at_quit.append(await asyncio.to_thread(self.committed_mark))
        return "221 Bye"

    def committed_mark(self):
        try:
            return Invoice.objects.filter(order_id=self.order_id).values_list("sent_at", flat=True).first()
        finally:
            db.connections.close_all()


@pytest.fixture
def watching_server(settings):
    port = free_port()
    handler = SentMarkAtQuit()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    yield handler
    controller.stop()


def test_the_sent_mark_is_committed_before_the_smtp_conversation_ends(watching_server):
    order = OrderFactory()
    watching_server.order_id = order.pk

    invoice = services.invoice_send(order_id=order.pk)

    assert watching_server.accepted == 1
    assert watching_server.marks_seen_at_quit == [invoice.sent_at]
