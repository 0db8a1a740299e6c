"""Campaigns and journeys through the integrator API: clients, graphs and campaigns."""

import copy

import pytest

from tests.factories import AttributeDefinitionFactory

CAMPAIGNS = "/api/v1/campaigns/"

# Three steps that need no template: tag the profile, wait an hour, leave.
GRAPH = {
    "start": "s1",
    "steps": [
        {"key": "s1", "kind": "update_attribute", "name": "Tag",
         "config": {"attribute": "stage", "value": "welcomed"}, "exits": {"next": "s2"}},
        {"key": "s2", "kind": "wait", "name": "An hour",
         "config": {"mode": "duration", "seconds": 3600}, "exits": {"next": "s3"}},
        {"key": "s3", "kind": "exit", "name": "Done", "config": {}, "exits": {}},
    ],
}


def graph(**changes_by_key) -> dict:
    """GRAPH with some steps' fields replaced: graph(s2={"exits": {"next": "nowhere"}})."""
    data = copy.deepcopy(GRAPH)
    for step in data["steps"]:
        step.update(changes_by_key.get(step["key"], {}))
    return data


def shape(data: dict) -> list[tuple]:
    """What a graph means, without the defaults the API fills in."""
    return [(s["key"], s["kind"], s.get("name", ""), s.get("config", {}), s.get("exits", {}))
            for s in data["steps"]]


@pytest.fixture
def writer(client_with):
    return client_with("campaigns:read", "campaigns:write")


@pytest.fixture
def reader(client_with):
    return client_with("campaigns:read")


@pytest.fixture
def stage_attribute(db):
    return AttributeDefinitionFactory(key="stage", type="string")


@pytest.fixture
def create(writer, stage_attribute):
    """`create(**fields)`: a draft campaign through the API (an event journey with GRAPH
    unless told otherwise); returns the answer's body."""

    def make(**fields) -> dict:
        body = {"name": "Welcome journey", "entry_kind": "event", "entry_event": "signed_up",
                "graph": GRAPH, **fields}
        response = writer.post(CAMPAIGNS, body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def running(writer, create):
    """A running event journey (published version 1)."""
    campaign = create()
    response = writer.post(f"{CAMPAIGNS}{campaign['id']}/publish/", format="json")
    assert response.status_code == 200, response.json()
    return response.json()


# A real RQ worker and SMTP sink for the journey run end to end (tests/e2e's fixtures).
from tests.e2e.conftest import (  # noqa: E402, F401
    pytest_runtest_makereport,
    rq_worker,
    smtp_sink,
    start_rq_worker,
)
