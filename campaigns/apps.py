from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from profiles.hooks import subscribe_to_events

        post_migrate.connect(_ensure_roles, sender=self)
        # New events enter event-triggered journeys and wake "wait until event" steps.
        subscribe_to_events("campaigns.journeys.jobs.on_events")

        from campaigns import send_health

        send_health.register()  # pause a running campaign past the provider-error threshold


def _ensure_roles(**kwargs) -> None:
    # Runs after campaigns (the last app) has its permissions, so every page permission exists.
    from profiles.roles import ensure_marketer_group

    ensure_marketer_group()
