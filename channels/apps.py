from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    label = "channels"
    verbose_name = "Channels and deliveries"

    def ready(self) -> None:
        from channels import identity_hooks

        identity_hooks.register()  # deliveries follow a merged profile to its survivor

        from channels import privacy_hooks

        privacy_hooks.register()  # GDPR: deliveries anonymized on erasure, listed in exports

        from channels import engagement

        engagement.register()  # "opened a message of campaign X" in segment rules
