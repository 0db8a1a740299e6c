"""Building blocks for pure engine tests: graphs from JSON, states, facts, a fixed clock."""

from datetime import UTC, datetime

from campaigns.engine import CampaignRules, EnrollmentState, ProfileFacts, advance
from campaigns.graph import graph_from_json
from profiles.rules.matcher import Facts

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # a Wednesday


def graph(*steps, start=None):
    return graph_from_json({"start": start or steps[0]["key"], "steps": list(steps)})


def state(step_key="s1", *, profile_id=7, entered_at=NOW, step_entered_at=None, **kwargs):
    return EnrollmentState(profile_id=profile_id, step_key=step_key, entered_at=entered_at,
                           step_entered_at=step_entered_at or entered_at, **kwargs)


def facts(*, events=(), attributes=None, timezone="UTC", engagement=None, **fields):
    return ProfileFacts(
        rules=Facts(fields={"email": "a@example.com", **fields},
                    attributes=dict(attributes or {}), events=list(events)),
        timezone=timezone, engagement=dict(engagement or {}),
    )


def rules(**kwargs):
    return CampaignRules(campaign_id=kwargs.pop("campaign_id", 3), **kwargs)


def run(g, st=None, fa=None, now=NOW, **rule_kwargs):
    return advance(g, st or state(g.start), fa or facts(), now, rules=rules(**rule_kwargs))


def kinds(decision):
    return [type(a).__name__ for a in decision.actions]
