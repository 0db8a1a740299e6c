"""Hooks other apps register on the sending pipeline (channels never imports campaigns).

    from channels import hooks
    hooks.register_after_batch(handler)   # handler(batch: SentBatch) -> None

`send_claimed` calls every handler once per batch, after the batch's outcomes are recorded
(committed), with those outcomes and the campaign step of each delivery. campaigns uses it to
pause a campaign whose provider keeps failing (campaigns/send_health.py). A handler that
raises is logged and does not undo or stop the send: what was recorded stays recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentBatch:
    outcomes: Sequence  # channels.sending.Outcome, as recorded
    step_of: dict[int, int]  # delivery id → campaign step id (deliveries outside campaigns absent)


AfterBatch = Callable[[SentBatch], None]
_after_batch: list[AfterBatch] = []


def register_after_batch(handler: AfterBatch) -> None:
    """Call `handler` after every recorded batch (idempotent: registered once per process)."""
    if handler not in _after_batch:
        _after_batch.append(handler)


def unregister_after_batch(handler: AfterBatch) -> None:
    if handler in _after_batch:
        _after_batch.remove(handler)


def after_batch(batch: SentBatch) -> None:
    for handler in list(_after_batch):
        try:
            handler(batch)
        except Exception:  # a health check must never turn a recorded send into a crash
            log.exception("after-batch hook %r failed", handler)
