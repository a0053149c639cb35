"""Filters of the dashboard template."""

from django import template

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.0123 -> "1.2%"."""
    return "" if value is None else f"{value * 100:.1f}%"


@register.filter
def mul(value: float, factor: float) -> float:
    return value * factor
