"""The profile list: keyset pages, search modes, attribute filters, counts without COUNT(*)."""

import pytest
from django.db import connection
from django.urls import reverse

from profiles import search
from profiles.search import ProfileFilters, profile_page
from tests.factories import AttributeDefinitionFactory, ProfileFactory

pytestmark = pytest.mark.django_db

LIST = reverse("profile_list")


def shown(response) -> list[str]:
    return [p.external_id for p in response.context["page"].profiles]


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(search, "PAGE_SIZE", 2)


def test_pages_go_older_and_back_newer_by_cursor(marketer_client, small_pages):
    ids = [p.external_id for p in ProfileFactory.create_batch(5)]  # the list: newest first

    first = marketer_client.get(LIST)
    second = marketer_client.get(LIST, {"after": first.context["page"].next_cursor})
    third = marketer_client.get(LIST, {"after": second.context["page"].next_cursor})
    back = marketer_client.get(LIST, {"before": third.context["page"].previous_cursor})

    assert shown(first) == [ids[4], ids[3]]
    assert shown(second) == [ids[2], ids[1]]
    assert shown(third) == [ids[0]]
    assert third.context["page"].next_cursor is None
    assert shown(back) == shown(second)
    assert f'?after={second.context["page"].next_cursor}' in second.content.decode()


def test_walking_back_to_the_top_is_the_first_page(marketer_client, small_pages):
    profiles = ProfileFactory.create_batch(3)

    response = marketer_client.get(LIST, {"before": profiles[0].pk})

    assert shown(response) == [profiles[2].external_id, profiles[1].external_id]
    assert response.context["page"].previous_cursor is None


def test_email_search_is_a_case_insensitive_prefix(marketer_client):
    ProfileFactory(external_id="a", email="Ada.Lovelace@Example.com")
    ProfileFactory(external_id="b", email="bob@example.com")
    ProfileFactory(external_id="c", email="x-ada@example.com")

    response = marketer_client.get(LIST, {"q": "ada.LOVE", "mode": "email"})

    assert shown(response) == ["a"]


def test_name_search_finds_words_anywhere_in_the_name_in_any_order(marketer_client):
    ProfileFactory(external_id="a", first_name="Ada", last_name="Lovelace")
    ProfileFactory(external_id="b", first_name="Adam", last_name="Smith")
    ProfileFactory(external_id="c", first_name="Grace", last_name="Hopper")

    by_substring = marketer_client.get(LIST, {"q": "velac", "mode": "name"})
    by_two_words = marketer_client.get(LIST, {"q": "lovelace ada", "mode": "name"})
    by_word_start = marketer_client.get(LIST, {"q": "ad s", "mode": "name"})

    assert shown(by_substring) == ["a"]
    assert shown(by_two_words) == ["a"]
    assert shown(by_word_start) == ["b"]


def test_external_id_search_is_exact(marketer_client):
    ProfileFactory(external_id="crm-1")
    ProfileFactory(external_id="crm-10")

    response = marketer_client.get(LIST, {"q": "crm-1", "mode": "external_id"})

    assert shown(response) == ["crm-1"]


def test_the_search_box_alone_tries_every_field(marketer_client):
    ProfileFactory(external_id="hop", email="z@example.com", first_name="Z", last_name="Z")
    ProfileFactory(external_id="b", email="hopkins@example.com", first_name="B", last_name="B")
    ProfileFactory(external_id="c", first_name="Grace", last_name="Hopper", email="")
    ProfileFactory(external_id="d", first_name="Ada", last_name="Lovelace")

    response = marketer_client.get(LIST, {"q": "hop"})

    assert sorted(shown(response)) == ["b", "c", "hop"]


def test_a_declared_number_attribute_is_matched_as_a_number(marketer_client):
    AttributeDefinitionFactory(key="score", type="number")
    ProfileFactory(external_id="number", attributes={"score": 5})
    ProfileFactory(external_id="text", attributes={"score": "5"})

    response = marketer_client.get(LIST, {"attr": "score", "value": "5.0"})

    assert shown(response) == ["number"]


def test_a_list_attribute_matches_profiles_holding_the_value(marketer_client):
    AttributeDefinitionFactory(key="tags", type="list")
    ProfileFactory(external_id="a", attributes={"tags": ["vip", "beta"]})
    ProfileFactory(external_id="b", attributes={"tags": ["beta"]})

    response = marketer_client.get(LIST, {"attr": "tags", "value": "vip"})

    assert shown(response) == ["a"]


def test_an_undeclared_attribute_matches_its_text_or_the_value_it_spells(marketer_client):
    ProfileFactory(external_id="bool", attributes={"beta": True})
    ProfileFactory(external_id="text", attributes={"beta": "true"})
    ProfileFactory(external_id="other", attributes={"beta": False})

    response = marketer_client.get(LIST, {"attr": "beta", "value": "true"})

    assert sorted(shown(response)) == ["bool", "text"]


def test_a_value_of_the_wrong_type_for_a_declared_attribute_is_an_error(marketer_client):
    AttributeDefinitionFactory(key="score", type="number")
    ProfileFactory()

    response = marketer_client.get(LIST, {"attr": "score", "value": "lots"})

    assert response.status_code == 200
    assert "Expected a number" in response.content.decode()
    assert 'id="id_value-error"' in response.content.decode()


def test_the_unfiltered_list_shows_the_planner_estimate(marketer_client, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 3)
    ProfileFactory.create_batch(5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE profiles_profile")

    response = marketer_client.get(LIST)

    page = response.context["page"]
    assert (page.count, page.count_is_estimate) == (5, True)
    assert "About 5 profiles" in response.content.decode()


def test_a_filtered_count_stops_at_the_cap(marketer_client, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 3)
    ProfileFactory.create_batch(5, attributes={"plan": "pro"})
    ProfileFactory(attributes={"plan": "free"})

    capped = marketer_client.get(LIST, {"attr": "plan", "value": "pro"})
    exact = marketer_client.get(LIST, {"attr": "plan", "value": "free"})

    assert "More than 3 profiles match" in capped.content.decode()
    assert "1 profile matches" in exact.content.decode()


def test_a_common_filter_is_counted_from_the_newest_profiles(marketer_client, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 3)
    monkeypatch.setattr(search, "WINDOW", 4)
    for plan in ["pro", "free"] * 5:
        ProfileFactory(attributes={"plan": plan})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE profiles_profile")

    response = marketer_client.get(LIST, {"attr": "plan", "value": "pro"})

    page = response.context["page"]
    assert (page.count, page.count_is_estimate) == (5, True)  # 2 of the newest 4, × 10 / 4
    assert "About 5 profiles match" in response.content.decode()


def test_sparse_matches_past_the_window_are_found_through_the_indexes(monkeypatch):
    monkeypatch.setattr(search, "WINDOW", 3)
    old = ProfileFactory.create_batch(3, attributes={"plan": "legacy"})
    ProfileFactory.create_batch(6, attributes={"plan": "free"})
    newest = ProfileFactory(attributes={"plan": "legacy"})

    page = profile_page(filters=ProfileFilters(attributes={"plan": "legacy"}), size=3)
    rest = profile_page(
        filters=ProfileFilters(attributes={"plan": "legacy"}), size=3, after=page.next_cursor
    )

    assert [p.pk for p in page.profiles] == [newest.pk, old[2].pk, old[1].pk]
    assert [p.pk for p in rest.profiles] == [old[0].pk]
    assert rest.next_cursor is None


def test_the_planner_switches_do_not_outlive_the_search():
    ProfileFactory(attributes={"plan": "pro"})

    profile_page(filters=ProfileFilters(attributes={"plan": "pro"}))

    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
