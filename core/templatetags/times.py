"""The `shown_time` and `shown_date` filters: `{{ order.created_at|shown_time }}` → `2026-11-21 19:22`."""

from django import template

from core.times import format_date, format_time

register = template.Library()


@register.filter
def shown_time(value) -> str:
    return format_time(value) if value else ""


@register.filter
def shown_date(value) -> str:
    return format_date(value) if value else ""
