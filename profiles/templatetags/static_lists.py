"""`{% static_list_choices as lists %}`: the static lists a page offers to add profiles to."""

from django import template

from profiles.models import Segment

register = template.Library()
SHOWN = 500


@register.simple_tag
def static_list_choices() -> list[Segment]:
    return list(Segment.objects.filter(kind=Segment.Kind.STATIC).only("id", "name")[:SHOWN])
