"""Gateways for tests: the simulated one, made to lose its first responses after debiting."""

from finance.gateways import GatewayUnavailable, SimulatedGateway


class LostResponsesGateway(SimulatedGateway):
    """Debits like the simulated gateway, then raises GatewayUnavailable for the first `lost` calls, as a
    provider does whose response times out; records every idempotency key it was sent."""

    lost = 0
    keys_sent: list[str] = []

    def __init__(self):
        super().__init__(latency_ms=0, failure_rate=0)

    def charge(self, **kwargs):
        LostResponsesGateway.keys_sent.append(kwargs["idempotency_key"])
        result = super().charge(**kwargs)
        if len(LostResponsesGateway.keys_sent) <= LostResponsesGateway.lost:
            raise GatewayUnavailable("response lost after the debit")
        return result


def debits_of(order) -> list[dict]:
    """Every debit the simulated gateway made for the order's customer, named as finance.services names it."""
    return SimulatedGateway.debits_for(f"customer-{order.customer_id}")
