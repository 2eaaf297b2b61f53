"""Payment gateways: the interface charges go through, and the simulated gateway used until a real one is set."""

import json
import random
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from core.money import format_money
from core.redis import redis_client


@dataclass(frozen=True)
class GatewayCharge:
    reference: str
    amount: Decimal
    currency: str
    idempotency_key: str


class GatewayUnavailable(ConnectionError):
    """The gateway could not be reached or did not answer: retry with the same idempotency key."""


class ChargeDeclined(Exception):
    """The gateway refused the payment; retrying cannot change that."""


class PaymentGateway:
    """What a payment provider must offer. Implementations must honour idempotency keys: the same key
    returns the first charge and never debits twice."""

    def charge(self, *, amount: Decimal, currency: str, customer_reference: str, idempotency_key: str) -> GatewayCharge:
        raise NotImplementedError


class SimulatedGateway(PaymentGateway):
    """A stand-in provider, not a real one: it debits nothing, keeps its ledger in Redis so every process sees
    it, waits PAYMENT_GATEWAY_LATENCY_MS and fails that share PAYMENT_GATEWAY_FAILURE_RATE of calls, half of
    them after recording the debit (a lost response), like a timeout at a real provider. Amounts above
    DECLINE_ABOVE are declined, as a card limit would."""

    DECLINE_ABOVE = Decimal("10000.00")
    LEDGER_PREFIX = "simulated-gateway"
    # Atomic "debit once per key": store the charge under its key unless present, and only then append it
    # to the customer's debits; returns the stored charge either way.
    _DEBIT_ONCE = """
    if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
        redis.call('RPUSH', KEYS[2], ARGV[1])
    end
    return redis.call('GET', KEYS[1])
    """

    def __init__(self, *, latency_ms: int | None = None, failure_rate: float | None = None):
        self.latency_ms = settings.PAYMENT_GATEWAY_LATENCY_MS if latency_ms is None else latency_ms
        self.failure_rate = settings.PAYMENT_GATEWAY_FAILURE_RATE if failure_rate is None else failure_rate

    def charge(self, *, amount: Decimal, currency: str, customer_reference: str, idempotency_key: str) -> GatewayCharge:
        time.sleep(self.latency_ms / 1000)
        fails = random.random() < self.failure_rate
        if fails and random.random() < 0.5:
            raise GatewayUnavailable("simulated gateway: connection reset before the request arrived")
        if amount > self.DECLINE_ABOVE:
            raise ChargeDeclined(f"The card was declined: {format_money(amount, currency)} is above its limit.")
        proposed = json.dumps(
            {
                "reference": f"sim_{uuid.uuid4().hex[:16]}",
                "amount": str(amount),
                "currency": currency,
                "idempotency_key": idempotency_key,
            }
        )
        stored = redis_client().eval(
            self._DEBIT_ONCE, 2, self._charge_key(idempotency_key), self.debits_key(customer_reference), proposed
        )
        if fails:
            raise GatewayUnavailable("simulated gateway: timed out after the debit, response lost")
        data = json.loads(stored)
        return GatewayCharge(
            reference=data["reference"],
            amount=Decimal(data["amount"]),
            currency=data["currency"],
            idempotency_key=data["idempotency_key"],
        )

    @classmethod
    def debits_for(cls, customer_reference: str) -> list[dict]:
        """Every debit the simulated gateway made for a customer, oldest first."""
        return [json.loads(item) for item in redis_client().lrange(cls.debits_key(customer_reference), 0, -1)]

    @classmethod
    def debits_key(cls, customer_reference: str) -> str:
        return f"{cls.LEDGER_PREFIX}:debits:{customer_reference}"

    @classmethod
    def _charge_key(cls, idempotency_key: str) -> str:
        return f"{cls.LEDGER_PREFIX}:charge:{idempotency_key}"


@cache
def _gateway_class(dotted_path: str) -> type[PaymentGateway]:
    return import_string(dotted_path)


def payment_gateway() -> PaymentGateway:
    return _gateway_class(settings.PAYMENT_GATEWAY_CLASS)()
