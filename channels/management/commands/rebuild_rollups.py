from django.core.management.base import BaseCommand

from channels.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute the hourly delivery rollups from the delivery status log."

    def handle(self, *args, **options):
        buckets = rollups_rebuild()
        if options["verbosity"]:
            self.stdout.write(f"Rebuilt {buckets} hourly rollup buckets from the delivery log.")
