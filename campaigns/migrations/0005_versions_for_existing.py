"""Every campaign made before versions gets version 1 holding its steps, keyed s<position>,
chained in position order (the first campaigns had one step)."""

from django.db import migrations


def forwards(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    CampaignVersion = apps.get_model("campaigns", "CampaignVersion")
    Step = apps.get_model("campaigns", "Step")
    for campaign in Campaign.objects.filter(current_version__isnull=True).iterator():
        steps = list(Step.objects.filter(campaign=campaign).order_by("position", "id"))
        published = campaign.launched_at or (
            campaign.scheduled_at if campaign.status != "draft" else None
        )
        version = CampaignVersion.objects.create(
            campaign=campaign, number=1, start_key=f"s{steps[0].position}" if steps else "",
            published_at=published,
        )
        for index, step in enumerate(steps):
            step.version = version
            step.key = f"s{step.position}"
            following = steps[index + 1] if index + 1 < len(steps) else None
            step.exits = {"next": f"s{following.position}" if following else None}
            step.save(update_fields=["version", "key", "exits"])
        campaign.current_version = version
        campaign.save(update_fields=["current_version"])


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_journeys")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
