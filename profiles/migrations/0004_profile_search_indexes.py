"""Indexes for the profile list and search at a million profiles (profiles.search).

- lower(email) with text_pattern_ops serves exact and prefix email search in any collation; it
  replaces the plain lower(email) index, which served only equality.
- a pg_trgm GIN index on lower(first_name || ' ' || last_name) serves substring name search.

Built CONCURRENTLY so a live profile table keeps taking writes while they build (hence not
atomic). pg_trgm is a trusted extension: the database owner may create it.
"""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import (
    AddIndexConcurrently,
    RemoveIndexConcurrently,
    TrigramExtension,
)
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("profiles", "0003_partition_events"),
    ]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            model_name="profile",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Lower("email"), name="text_pattern_ops"
                ),
                name="profile_email_lower_pattern",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="profile",
            name="profile_email_lower",
        ),
        AddIndexConcurrently(
            model_name="profile",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Lower(
                        django.db.models.functions.text.Concat(
                            "first_name", models.Value(" "), "last_name"
                        )
                    ),
                    name="gin_trgm_ops",
                ),
                name="profile_name_trgm",
            ),
        ),
    ]
