"""Number formats of the report pages."""

from django import template

register = template.Library()


@register.filter
def percent(value, digits: int = 1) -> str:
    """0.01234 → "1.2%"; small rates keep two decimals (a 0.1% complaint rate matters)."""
    if value is None:
        return "—"
    value = float(value) * 100
    places = 2 if 0 < abs(value) < 1 else int(digits)
    return f"{value:.{places}f}%"


@register.filter
def signed_percent(value) -> str:
    if value is None:
        return "—"
    return ("+" if float(value) > 0 else "") + percent(value)


@register.filter
def pvalue(value) -> str:
    if value is None:
        return "—"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"
