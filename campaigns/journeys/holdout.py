"""The control group: who enters a campaign but receives no messages, decided by the
engine's stable hash (campaigns.engine.stable_fraction, salt "holdout") — in SQL inside
every enrollment INSERT … SELECT (audience, event and segment entries: no profile passes
through Python there), in Python for the simulation.

engine.stable_fraction(campaign, profile, "holdout") is the first 15 hex digits of
sha256("<campaign>:<profile>:holdout") over 16**15, a float; the SQL below does the same
IEEE double operations (tests/journeys prove they agree).
"""

from __future__ import annotations

from campaigns.engine import stable_fraction

_SCALE = 16**15


def in_control_group(campaign_id: int, profile_id: int, holdout_percent: float) -> bool:
    return stable_fraction(campaign_id, profile_id, "holdout") * 100 < holdout_percent


def control_sql(campaign_sql: str, profile_sql: str, holdout_percent: float) -> str:
    """in_control_group as an SQL boolean over two integer SQL expressions (trusted SQL)."""
    if holdout_percent <= 0:
        return "FALSE"
    text = f"({campaign_sql} || ':' || {profile_sql} || ':holdout')"
    digits = f"substr(encode(sha256(convert_to({text}, 'UTF8')), 'hex'), 1, 15)"
    fraction = f"(('x' || {digits})::bit(60)::bigint::float8 / {_SCALE}::float8)"
    return f"({fraction} * 100 < {float(holdout_percent)}::float8)"
