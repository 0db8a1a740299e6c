"""Proofs are sent by the request that asks for them, never also by the sweep."""

import pytest

from channels.message_templates import (
    proof_deliveries_create,
    template_latest_revision,
    template_save,
)
from channels.models import DeliveryStatus, SeedList
from channels.services import deliveries_claim

pytestmark = pytest.mark.django_db


def test_proof_deliveries_are_born_claimed_so_no_sweep_sends_them_again():
    # Given a proof to a seed list, created but not yet sent by its request
    template = template_save(
        name="Receipt", channel="email", kind="transactional",
        content={"subject": "Your order", "html": "<p>Thanks {{ profile.first_name }}</p>"},
    )
    revision = template_latest_revision(template)
    seeds = SeedList.objects.create(name="QA", addresses=["qa@example.com", "boss@example.com"])

    proofs = proof_deliveries_create(revision=revision, seed_list=seeds)

    # When the sweep claims queued deliveries outside campaigns
    claimed = deliveries_claim(limit=100)

    # Then it finds none of the proofs: they are already the request's
    assert claimed == []
    assert {p.status for p in proofs} == {DeliveryStatus.SENDING}
