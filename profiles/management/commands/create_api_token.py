"""`manage.py create_api_token NAME --scope profiles:read ...`: the secret goes to stdout once."""

from django.core.management.base import BaseCommand, CommandParser

from profiles.models import ApiToken
from profiles.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for an integrator and print its secret (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who or what uses the token, e.g. 'CRM sync'.")
        parser.add_argument(
            "--scope", action="append", dest="scopes", required=True,
            choices=[code for code, _ in ApiToken.SCOPES], help="Repeat for several scopes.",
        )

    def handle(self, *args, name: str, scopes: list[str], **options) -> None:
        token, secret = api_token_create(name=name, scopes=scopes)
        # Only the secret on stdout, so `TOKEN=$(manage.py create_api_token …)` works.
        self.stderr.write(
            f"Created {token} with scopes {', '.join(token.scopes)}. "
            "The secret below is not stored and will not be shown again."
        )
        self.stdout.write(secret)
