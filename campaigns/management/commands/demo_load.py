"""`manage.py demo_load`: load the demo shop's customers, segments and campaign, once."""

from django.core.management.base import BaseCommand

from campaigns.demo import PROFILE_COUNT, demo_load


class Command(BaseCommand):
    help = "Load demo profiles, events, segments and a draft campaign (does nothing if loaded)."

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=PROFILE_COUNT)

    def handle(self, *args, profiles: int, **options):
        result = demo_load(profiles=profiles)
        if not result.created:
            self.stdout.write("Demo data already loaded; nothing to do.")
            return
        segments = ", ".join(s.name for s in result.segments) or "none (names taken)"
        self.stdout.write(self.style.SUCCESS(
            f"Demo data loaded: {result.profiles} profiles, {result.events} events, "
            f"segments: {segments}; draft campaign: {result.campaign}."
        ))
