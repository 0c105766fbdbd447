"""Prometheus figures of the message centre (summed over processes by /metrics). Counted on
commit, so work that rolled back is not counted."""

from __future__ import annotations

from django.db import transaction
from prometheus_client import Counter, Histogram

ACCEPTED = Counter("tongban_messages_accepted_total", "Messages accepted for sending", ["category"])
FINISHED = Counter("tongban_message_deliveries_finished_total", "Deliveries that reached an end state", ["channel", "state"])
PROVIDER_SECONDS = Histogram(
    "tongban_message_provider_seconds",
    "Time a provider took to accept or refuse one message",
    ["provider", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def count_accepted(category: str) -> None:
    transaction.on_commit(lambda: ACCEPTED.labels(category).inc())


def count_finished(channel: str, state: str) -> None:
    transaction.on_commit(lambda: FINISHED.labels(channel, state).inc())
