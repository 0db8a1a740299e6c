import pytest
from django.contrib.auth.models import Permission

from tests.factories import UserFactory

TEMPLATE_PERMISSIONS = [
    "view_messagetemplate", "add_messagetemplate", "change_messagetemplate",
    "view_snippet", "change_snippet", "change_seedlist",
]


@pytest.fixture
def template_client(client, db):
    """A marketer allowed the template pages (the Marketers group does not list them yet)."""
    user = UserFactory(username="writer")
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="channels",
                                  codename__in=TEMPLATE_PERMISSIONS)
    )
    client.force_login(user)
    return client
