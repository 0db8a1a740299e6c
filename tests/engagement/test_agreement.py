"""The engagement condition selects in SQL exactly the profiles its matcher accepts.

Hypothesis draws profiles with deliveries (of two campaigns, or of none) and status logs
spread over fifty days, and rule trees of engagement conditions nested in all/any/not; the
set query and the one-profile match must agree on every profile.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.models import Delivery, DeliveryEvent
from profiles.audiences import audience_queryset, profile_matches
from profiles.models import Profile
from tests.factories import StepFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)
STATUSES = st.sampled_from(["queued", "sent", "delivered", "opened", "clicked", "bounced",
                            "failed"])
DELIVERIES = st.lists(
    st.tuples(
        st.sampled_from([0, 1, None]),  # which campaign (None: a message of no campaign)
        st.lists(st.tuples(STATUSES, st.integers(-50 * 24, 0)), max_size=3),
    ),
    max_size=3,
)
PEOPLE = st.lists(st.tuples(DELIVERIES, st.sampled_from(["free", "pro"])), min_size=1,
                  max_size=6)
CONDITIONS = st.builds(
    lambda action, campaign, window: {"type": "engagement", "action": action,
                                      "campaign": campaign, **window},
    st.sampled_from(["received", "opened", "clicked", "bounced"]),
    st.sampled_from([0, 1, None]),
    st.one_of(st.just({}), st.integers(0, 40).map(lambda d: {"within_days": d})),
)
LEAVES = st.one_of(
    CONDITIONS,
    st.sampled_from(["free", "pro"]).map(
        lambda plan: {"type": "attribute", "key": "plan", "op": "equals", "value": plan,
                      "value_type": "string"}),
)
TREES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=5,
)


def _with_campaign_ids(tree, campaign_ids):
    """Trees are drawn with campaign indexes; the stored campaigns have real ids."""
    if "all" in tree or "any" in tree:
        key = "all" if "all" in tree else "any"
        return {key: [_with_campaign_ids(n, campaign_ids) for n in tree[key]]}
    if "not" in tree:
        return {"not": _with_campaign_ids(tree["not"], campaign_ids)}
    if tree["type"] == "engagement" and tree["campaign"] is not None:
        return {**tree, "campaign": campaign_ids[tree["campaign"]]}
    return tree


def _population(people, steps):
    profiles = []
    for i, (deliveries, plan) in enumerate(people):
        profile = Profile.objects.create(external_id=f"p{i}", attributes={"plan": plan})
        for j, (campaign, log) in enumerate(deliveries):
            # One delivery per step and profile: each of a profile's deliveries of a
            # campaign is of another of its steps.
            step = steps[campaign][j] if campaign is not None else None
            delivery = Delivery.objects.create(
                profile=profile, campaign_step=step, address=f"p{i}-{j}@example.com"
            )
            for status, hours in log:
                DeliveryEvent.objects.create(delivery=delivery, status=status,
                                             occurred_at=NOW + timedelta(hours=hours))
        profiles.append(profile)
    return profiles


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(people=PEOPLE, tree=TREES)
def test_engagement_trees_select_what_the_matcher_accepts(people, tree):
    with transaction.atomic():
        firsts = [StepFactory(), StepFactory()]
        steps = [[first] + [StepFactory(campaign=first.campaign, position=n) for n in (2, 3)]
                 for first in firsts]
        profiles = _population(people, steps)
        rules = _with_campaign_ids(tree, [first.campaign_id for first in firsts])

        selected = set(audience_queryset(rules, now=NOW).values_list("id", flat=True))
        matched = {p.id for p in profiles if profile_matches(p, rules, now=NOW)}

        assert selected == matched
        transaction.set_rollback(True)
