"""The `shown_time` filter: `{{ order.created_at|shown_time }}` → `2026-11-21 19:22`."""

from django import template

from core.times import format_time

register = template.Library()


@register.filter
def shown_time(value) -> str:
    return format_time(value) if value else ""
