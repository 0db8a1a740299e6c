"""An event journey built, published, fed and read back through the API alone, walked by a
real RQ worker process that sends its email to a real SMTP sink."""

import time

import pytest

from tests.factories import ProfileFactory
from tests.journeys_api.conftest import CAMPAIGNS

WELCOME = {
    "start": "s1",
    "steps": [
        {"key": "s1", "kind": "send_email", "name": "Welcome",
         "config": {"subject": "Welcome {{ profile.first_name }}",
                    "html_body": '<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'},
         "exits": {"next": "s2"}},
        {"key": "s2", "kind": "wait", "config": {"mode": "duration", "seconds": 86_400},
         "exits": {"next": "s3"}},
        {"key": "s3", "kind": "exit"},
    ],
}


def eventually(read, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_an_event_enters_the_journey_and_the_api_follows_it(rq_worker, smtp_sink, client_with):
    writer = client_with("campaigns:read", "campaigns:write")
    shop = client_with("events:write")
    ProfileFactory(external_id="ada", email="ada@example.com", first_name="Ada")
    campaign = writer.post(CAMPAIGNS, {"name": "Welcome", "entry_kind": "event",
                                       "entry_event": "signed_up", "graph": WELCOME},
                           format="json").json()
    url = f"{CAMPAIGNS}{campaign['id']}/"
    published = writer.post(f"{url}publish/")

    sent = shop.post("/api/v1/events", {"name": "signed_up", "external_id": "ada"},
                     format="json")

    waiting = eventually(lambda: writer.get(f"{url}enrollments/",
                                            {"step": "s2", "state": "active"}).json()["results"],
                         lambda rows: len(rows) == 1)
    assert (published.status_code, sent.status_code) == (200, 201)
    assert len(waiting) == 1 and waiting[0]["version"] == 1
    stats = {s["key"]: s for s in writer.get(f"{url}stats/").json()["steps"]}
    assert (stats["s1"]["entered"], stats["s1"]["passed"]) == (1, 1)
    assert (stats["s2"]["entered"], stats["s2"]["waiting"]) == (1, 1)
    received = eventually(smtp_sink.by_recipient, lambda by: "ada@example.com" in by)
    assert [m["Subject"] for m in received["ada@example.com"]] == ["Welcome Ada"]
