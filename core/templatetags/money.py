"""The `money` filter: `{{ order.total|money }}` → `237.60 EUR`, `{{ charge.amount|money:charge.currency }}`."""

from django import template

from core.money import CURRENCY, format_money

register = template.Library()


@register.filter
def money(amount, currency: str = CURRENCY) -> str:
    return format_money(amount, currency)
