"""Open pixel and click redirects: signed ids only, stored URLs only, 404 for anything else."""

import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from channels.message_templates import render_template
from channels.models import DeliveryEvent, DeliveryStatus, TrackedLink
from channels.tracking import click_url, open_pixel_url, read_token, sign_token
from tests.message_helpers import email_template, sent_delivery

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_a_token_reads_back_its_ids_and_a_changed_one_reads_nothing():
    token = sign_token("click", 12, 34)

    assert read_token("click", token, count=2) == (12, 34)
    assert read_token("click", token.replace("12-", "13-"), count=2) is None
    assert read_token("open", token, count=2) is None  # another purpose's key
    assert read_token("click", token[:-1] + ("0" if token[-1] != "0" else "1"), count=2) is None


def test_the_first_open_is_logged_once_and_moves_a_sent_delivery_to_opened(client):
    # Given a sent delivery
    delivery = sent_delivery()
    pixel = path_of(open_pixel_url(delivery.pk))

    # When its pixel is fetched twice
    first = client.get(pixel)
    client.get(pixel)

    # Then a GIF is answered, one open is logged and the status is opened
    assert first.status_code == 200 and first["Content-Type"] == "image/gif"
    assert DeliveryEvent.objects.filter(delivery=delivery, status="opened").count() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.OPENED


def test_an_open_never_moves_a_clicked_delivery_back(client):
    delivery = sent_delivery(status=DeliveryStatus.CLICKED)

    client.get(path_of(open_pixel_url(delivery.pk)))

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.CLICKED


def test_a_tampered_pixel_token_answers_404_and_logs_nothing(client):
    delivery = sent_delivery()
    other = sent_delivery()
    forged = sign_token("open", delivery.pk).replace(f"{delivery.pk}.", f"{other.pk}.")

    response = client.get(reverse("track_open", args=[forged]))

    assert response.status_code == 404
    assert not DeliveryEvent.objects.filter(status="opened").exists()


def test_a_click_redirects_to_the_stored_url_and_is_logged(client):
    # Given a delivery of a template with a tracked link
    delivery = sent_delivery()
    link = TrackedLink.objects.get(revision=delivery.template_revision)

    # When the recipient clicks it
    response = client.get(path_of(click_url(delivery.pk, link.pk)))

    # Then they land on the stored URL and the click is logged with it
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example/spring?x=1&y=2"
    event = DeliveryEvent.objects.get(delivery=delivery, status="clicked")
    assert event.detail == "https://shop.example/spring?x=1&y=2"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.CLICKED


def test_a_link_of_another_revision_answers_404(client):
    # Given a genuine token pairing a delivery with a link id of another template
    delivery = sent_delivery()
    other_revision = sent_delivery(template=email_template()).template_revision
    foreign = TrackedLink.objects.get(revision=other_revision)

    response = client.get(path_of(click_url(delivery.pk, foreign.pk)))

    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/t/c///evil.example",
        "/t/c//evil.example",
        "/t/c/https://ours.example@evil.example",
        "/t/c/https:%2F%2Fours.example@evil.example",
        "/t/c/%5C%5Cevil.example",
        "/t/c/\\\\evil.example",
        "/t/c/%2F%2Fevil.example",
        "/t/c/?next=https://evil.example",
    ],
)
def test_urls_in_the_request_are_never_followed(client, path):
    sent_delivery()

    response = client.get(path)

    assert response.status_code == 404


def test_a_tampered_link_id_answers_404(client):
    delivery = sent_delivery()
    link = TrackedLink.objects.get(revision=delivery.template_revision)
    token = sign_token("click", delivery.pk, link.pk)
    forged = token.replace(f"-{link.pk}.", f"-{link.pk + 1}.")

    response = client.get(reverse("track_click", args=[forged]))

    assert response.status_code == 404
    assert not DeliveryEvent.objects.filter(status="clicked").exists()


def test_a_stored_link_that_is_not_a_web_url_is_never_redirected_to(client):
    delivery = sent_delivery()
    link = TrackedLink.objects.get(revision=delivery.template_revision)
    TrackedLink.objects.filter(pk=link.pk).update(url="javascript:alert(1)")

    response = client.get(path_of(click_url(delivery.pk, link.pk)))

    assert response.status_code == 404


def test_rendering_rewrites_literal_links_and_leaves_personalized_ones(settings):
    # Given a template with a literal link, a personalized link and the unsubscribe link
    delivery = sent_delivery()

    # When it is rendered for the delivery
    html = render_template(
        revision=delivery.template_revision, profile=delivery.profile, delivery_id=delivery.pk
    )["html"]

    # Then the literal link goes through the click redirect, the personalized one is as
    # written, and the open pixel is in the body
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert hrefs[0].startswith(settings.BASE_URL + "/t/c/")
    assert hrefs[1] == f"https://shop.example/profile/{delivery.profile.external_id}"
    assert hrefs[2].startswith(settings.BASE_URL + "/u/")
    assert open_pixel_url(delivery.pk) in html
    assert "shop.example/spring" not in html


def test_utm_parameters_are_added_to_tracked_links_when_the_template_asks():
    template = email_template(utm={"utm_source": "itinera", "utm_campaign": "spring"})

    link = TrackedLink.objects.get(revision__template=template)

    assert link.url == "https://shop.example/spring?x=1&y=2&utm_source=itinera&utm_campaign=spring"
