"""Roles: marketers use the web UI (a Django group with the permissions pages check);
admins are staff; integrators use API tokens (profiles.authentication)."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

MARKETERS = "Marketers"

# app_label.codename pairs the marketer pages check.
MARKETER_PERMISSIONS = [
    "profiles.view_profile",
    # Not profiles.delete_profile: erasing a profile (GDPR) is irreversible and left to those
    # given it explicitly (staff, or a privacy officer's group).
    "profiles.change_profile",
    "profiles.change_consent",
    "profiles.view_attributedefinition",
    "profiles.add_attributedefinition",
    "profiles.change_attributedefinition",
    "profiles.delete_attributedefinition",
    "profiles.view_topic",
    "profiles.add_topic",
    "profiles.change_topic",
    "profiles.add_profileimport",
    "profiles.view_profileimport",
    "profiles.add_segment",
    "profiles.change_segment",
    "profiles.view_segment",
    "campaigns.add_campaign",
    "campaigns.change_campaign",
    "campaigns.view_campaign",
    "channels.view_delivery",
    "channels.view_mailexport",
    "channels.view_messagetemplate",
    "channels.add_messagetemplate",
    "channels.change_messagetemplate",
    "channels.view_snippet",
    "channels.change_snippet",
    "channels.change_seedlist",
    "channels.view_placement",
    "channels.add_placement",
    "channels.change_placement",
    "channels.view_offer",
    "channels.add_offer",
    "channels.change_offer",
    "channels.delete_offer",
    "channels.view_suppression",
    "channels.add_suppression",
    "channels.delete_suppression",
]


def ensure_marketer_group() -> Group:
    """Create the Marketers group (idempotent) with exactly the UI permissions."""
    group, _ = Group.objects.get_or_create(name=MARKETERS)
    wanted = Q()
    for dotted in MARKETER_PERMISSIONS:
        app_label, codename = dotted.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    # A partial migrate (`migrate profiles 0001`) has not created every app's permissions yet;
    # the next full migrate completes the group.
    group.permissions.set(Permission.objects.filter(wanted))
    return group
