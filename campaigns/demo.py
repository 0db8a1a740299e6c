"""Demo data for `make run`: customers of a small outdoor-gear shop, with a history.

`demo_load()` creates, once, ~1,200 profiles across eight countries (names from Faker in the
country's locale, a matching IANA time zone and BCP 47 locale), a few thousand events from
the last 90 days, three segments, one draft campaign ready to schedule, and two published
journeys (campaigns.demo_journeys): a scheduled multi-step series and a running real-time
cart reminder. Everything comes from a seeded Random, so two loads on the same day produce
the same people.

Contact data can never reach a real person: emails use the reserved example.com/.org/.net
domains, and phones are given only in countries with a range reserved for fiction
(US 555-01xx, UK 07700 900xxx, France 06 39 98 xx xx), in E.164.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from faker import Faker

from campaigns.demo_journeys import create_journeys
from campaigns.models import Campaign
from campaigns.services import campaign_save
from channels.models import Offer, Placement
from profiles.identity import profile_identify
from profiles.models import (
    AttributeDefinition,
    AttributeType,
    Consent,
    ConsentChange,
    Event,
    Profile,
    Segment,
    SegmentMember,
    Topic,
)
from profiles.services import segment_save

DEMO_PREFIX = "demo-"
DEMO_SOURCE = "demo"
PROFILE_COUNT = 1200
SEED = 20_260_401
EVENT_DAYS = 90
BATCH_SIZE = 1000
# Any constant: serializes concurrent loads (two `make run` starting at once).
_LOCK_KEY = 0x17_1E_DE_40


US_AREA_CODES = (212, 206, 213, 303, 312, 415, 512, 602, 617, 718)


def _us_phone(rng: random.Random) -> str:
    return f"+1{rng.choice(US_AREA_CODES)}55501{rng.randint(0, 99):02d}"


def _uk_phone(rng: random.Random) -> str:
    return f"+447700900{rng.randint(0, 999):03d}"


def _fr_phone(rng: random.Random) -> str:
    return f"+3363998{rng.randint(0, 9999):04d}"


@dataclass(frozen=True)
class Country:
    code: str
    faker_locale: str
    locale: str
    currency: str
    usd_rate: float
    weight: int
    cities: tuple[tuple[str, str], ...]
    phone: Callable[[random.Random], str] | None = None


COUNTRIES = (
    Country("US", "en_US", "en-US", "USD", 1.0, 30, (
        ("New York", "America/New_York"), ("Boston", "America/New_York"),
        ("Chicago", "America/Chicago"), ("Austin", "America/Chicago"),
        ("Denver", "America/Denver"), ("Phoenix", "America/Phoenix"),
        ("Los Angeles", "America/Los_Angeles"), ("Seattle", "America/Los_Angeles"),
    ), _us_phone),
    Country("GB", "en_GB", "en-GB", "GBP", 0.79, 14, (
        ("London", "Europe/London"), ("Manchester", "Europe/London"),
        ("Bristol", "Europe/London"), ("Edinburgh", "Europe/London"),
        ("Leeds", "Europe/London"),
    ), _uk_phone),
    Country("FR", "fr_FR", "fr-FR", "EUR", 0.92, 14, (
        ("Paris", "Europe/Paris"), ("Lyon", "Europe/Paris"), ("Marseille", "Europe/Paris"),
        ("Toulouse", "Europe/Paris"), ("Bordeaux", "Europe/Paris"), ("Nantes", "Europe/Paris"),
    ), _fr_phone),
    Country("DE", "de_DE", "de-DE", "EUR", 0.92, 12, (
        ("Berlin", "Europe/Berlin"), ("Hamburg", "Europe/Berlin"), ("Munich", "Europe/Berlin"),
        ("Cologne", "Europe/Berlin"), ("Leipzig", "Europe/Berlin"),
    )),
    Country("ES", "es_ES", "es-ES", "EUR", 0.92, 9, (
        ("Madrid", "Europe/Madrid"), ("Barcelona", "Europe/Madrid"),
        ("Valencia", "Europe/Madrid"), ("Seville", "Europe/Madrid"),
        ("Las Palmas", "Atlantic/Canary"),
    )),
    Country("IT", "it_IT", "it-IT", "EUR", 0.92, 8, (
        ("Rome", "Europe/Rome"), ("Milan", "Europe/Rome"), ("Naples", "Europe/Rome"),
        ("Turin", "Europe/Rome"), ("Florence", "Europe/Rome"),
    )),
    Country("JP", "ja_JP", "ja-JP", "JPY", 150.0, 6, (
        ("Tokyo", "Asia/Tokyo"), ("Osaka", "Asia/Tokyo"), ("Yokohama", "Asia/Tokyo"),
        ("Sapporo", "Asia/Tokyo"), ("Fukuoka", "Asia/Tokyo"),
    )),
    Country("BR", "pt_BR", "pt-BR", "BRL", 5.0, 7, (
        ("São Paulo", "America/Sao_Paulo"), ("Rio de Janeiro", "America/Sao_Paulo"),
        ("Belo Horizonte", "America/Sao_Paulo"), ("Recife", "America/Recife"),
        ("Fortaleza", "America/Fortaleza"), ("Manaus", "America/Manaus"),
    )),
)
PLANS = (("free", 60), ("pro", 30), ("enterprise", 10))
LIFETIME_VALUE = {"free": (0, 60), "pro": (120, 2_400), "enterprise": (2_500, 48_000)}
INTERESTS = (
    "hiking", "running", "cycling", "climbing", "camping", "yoga", "photography",
    "travel", "cooking", "gardening", "skiing", "surfing",
)
# sku, name, category, price in USD
PRODUCTS = (
    ("SKU-1001", "Trail Running Shoes", "footwear", 129.0),
    ("SKU-1002", "Merino Wool Socks (3 pairs)", "apparel", 34.0),
    ("SKU-1003", "Ultralight Rain Jacket", "apparel", 189.0),
    ("SKU-1004", "Travel Backpack 30L", "bags", 149.0),
    ("SKU-1005", "Insulated Water Bottle", "accessories", 29.0),
    ("SKU-1006", "Two-Person Tent", "camping", 349.0),
    ("SKU-1007", "Headlamp 400lm", "accessories", 45.0),
    ("SKU-1008", "Cork Yoga Mat", "fitness", 79.0),
    ("SKU-1009", "Camera Sling Bag", "bags", 69.0),
    ("SKU-1010", "Down Sleeping Bag", "camping", 279.0),
)
PAGES = ("/", "/new", "/sale", "/stores", "/journal/packing-list", "/journal/first-ultra")
REFERRERS = ("direct", "google", "newsletter", "instagram", "partner-blog")
DOMAINS = ("example.com", "example.org", "example.net")


@dataclass
class DemoResult:
    """What one load created; all empty when the demo data was already there."""

    profiles: int = 0
    events: int = 0
    segments: list[Segment] = field(default_factory=list)
    campaign: Campaign | None = None
    journeys: list[Campaign] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return bool(self.profiles or self.segments or self.campaign)


def demo_exists() -> bool:
    return Profile.objects.filter(external_id__startswith=DEMO_PREFIX).exists()


def demo_load(*, profiles: int = PROFILE_COUNT, seed: int = SEED,
              now: datetime | None = None) -> DemoResult:
    """Create the demo data, all or nothing; do nothing when it exists already."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        if demo_exists():
            return DemoResult()
        rng = random.Random(seed)
        _declare_attributes()
        topics = _create_topics()
        people = _create_profiles(rng, profiles, now)
        events = _create_events(rng, people, now)
        _create_consents(rng, people, topics, now)
        _create_visitors_and_merges(rng, people, now)
        segments = _create_segments()
        _create_static_list(rng, people)
        _create_placement()
        campaign = _create_campaign()
        journeys = create_journeys(now)
    return DemoResult(profiles=len(people), events=events, segments=segments, campaign=campaign,
                      journeys=journeys)


# --- profiles ----------------------------------------------------------------------------

def _create_profiles(rng: random.Random, count: int, now: datetime) -> list[Profile]:
    fakers = {c.faker_locale: _faker(c.faker_locale, rng) for c in COUNTRIES}
    used_emails: set[str] = set()
    weights = [c.weight for c in COUNTRIES]
    rows = []
    for index in range(1, count + 1):
        country = rng.choices(COUNTRIES, weights=weights)[0]
        rows.append(_profile(rng, fakers[country.faker_locale], country, index, used_emails, now))
    return Profile.objects.bulk_create(rows, batch_size=BATCH_SIZE)


def _faker(locale: str, rng: random.Random) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(rng.getrandbits(32))
    return fake


def _profile(rng: random.Random, fake: Faker, country: Country, index: int,
             used_emails: set[str], now: datetime) -> Profile:
    first, last, ascii_first, ascii_last = _name(fake, country)
    city, tz = rng.choice(country.cities)
    has_phone = country.phone is not None and rng.random() < 0.8
    return Profile(
        external_id=f"{DEMO_PREFIX}{index:05d}",
        email=_email(rng, ascii_first, ascii_last, used_emails),
        phone=country.phone(rng) if has_phone else "",
        first_name=first,
        last_name=last,
        timezone=tz,
        locale=country.locale,
        attributes=_attributes(rng, country, city, now),
    )


def _name(fake: Faker, country: Country) -> tuple[str, str, str, str]:
    if country.code == "JP":  # kanji for display, the romanized reading for the address
        first, _, first_roman = fake.first_name_pair()
        last, _, last_roman = fake.last_name_pair()
        return first, last, _ascii(first_roman), _ascii(last_roman)
    first, last = fake.first_name(), fake.last_name()
    return first, last, _ascii(first), _ascii(last)


def _ascii(name: str) -> str:
    name = name.lower().replace("ß", "ss").replace("æ", "ae").replace("ø", "o")
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()) or "customer"


def _email(rng: random.Random, first: str, last: str, used: set[str]) -> str:
    local = rng.choice((f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}",
                        f"{first}_{last}", f"{last}.{first}"))
    domain = rng.choice(DOMAINS)
    address, n = f"{local}@{domain}", 1
    while address in used:
        n += 1
        address = f"{local}{n}@{domain}"
    used.add(address)
    return address


def _attributes(rng: random.Random, country: Country, city: str, now: datetime) -> dict:
    plan = rng.choices([p for p, _ in PLANS], weights=[w for _, w in PLANS])[0]
    low, high = LIFETIME_VALUE[plan]
    return {
        "plan": plan,
        "country": country.code,
        "city": city,
        "signup_date": (now.date() - timedelta(days=rng.randint(1, 3 * 365))).isoformat(),
        "lifetime_value": round(rng.uniform(low, high), 2),
        "newsletter": rng.random() < 0.45,
        "interests": sorted(rng.sample(INTERESTS, rng.randint(1, 3))),
    }


# --- schema, topics, consent, merges ------------------------------------------------------

ATTRIBUTE_SCHEMA = (
    ("plan", "Plan", AttributeType.STRING, ["free", "pro", "enterprise"]),
    ("country", "Country", AttributeType.STRING, []),
    ("city", "City", AttributeType.STRING, []),
    ("signup_date", "Signed up", AttributeType.DATE, []),
    ("lifetime_value", "Lifetime value", AttributeType.NUMBER, []),
    ("newsletter", "Newsletter", AttributeType.BOOLEAN, []),
    ("interests", "Interests", AttributeType.LIST, []),
)
TOPICS = (
    ("newsletter", "Newsletter", "The monthly gear newsletter."),
    ("promotions", "Promotions", "Sales and limited offers."),
)


def _declare_attributes() -> None:
    for key, label, kind, allowed in ATTRIBUTE_SCHEMA:
        AttributeDefinition.objects.get_or_create(
            key=key, defaults={"label": label, "type": kind, "allowed_values": allowed}
        )


def _create_topics() -> dict[str, Topic]:
    return {
        key: Topic.objects.get_or_create(key=key, defaults={"name": name, "description": text})[0]
        for key, name, text in TOPICS
    }


def _create_consents(rng: random.Random, people: list[Profile], topics: dict[str, Topic],
                     now: datetime) -> None:
    """A realistic mix: most never said anything, some opted in or out, with history."""
    rows, history = [], []
    for profile in people:
        choices = [("email", None, rng.choices(
            ["opted_in", "opted_out", None], weights=[30, 6, 64])[0])]
        choices.append(("email", topics["newsletter"],
                        "opted_in" if profile.attributes.get("newsletter") else None))
        choices.append(("email", topics["promotions"], rng.choice(["opted_in", "opted_out", None])))
        if profile.phone:
            choices.append(("sms", None, rng.choices(["opted_in", None], weights=[40, 60])[0]))
        for channel, topic, state in choices:
            if state is None:
                continue
            at = now - timedelta(days=rng.randint(1, 300))
            rows.append(Consent(profile=profile, channel=channel, topic=topic, state=state,
                                source="demo", updated_at=at))
            history.append(ConsentChange(profile=profile, channel=channel, topic=topic,
                                         state=state, previous_state="unknown", source="demo",
                                         occurred_at=at))
    Consent.objects.bulk_create(rows, batch_size=2000)
    ConsentChange.objects.bulk_create(history, batch_size=2000)


def _create_visitors_and_merges(rng: random.Random, people: list[Profile], now: datetime) -> None:
    """Anonymous visitors who browsed, then signed in: their profiles merge into the known."""
    for index, person in enumerate(rng.sample(people, min(5, len(people)))):
        anonymous_id = f"{DEMO_PREFIX}visitor-{index}"
        visitor = profile_identify(anonymous_id=anonymous_id, source="demo").profile
        Event.objects.bulk_create([
            Event(profile=visitor, name="page_viewed", source="demo",
                  properties={"path": path}, occurred_at=now - timedelta(hours=rng.randint(2, 48)))
            for path in ("/", "/tents", "/tents/alpine-2")
        ])
        profile_identify(anonymous_id=anonymous_id, external_id=person.external_id, source="demo")
    Event.objects.bulk_create([
        Event(profile=profile_identify(anonymous_id=f"{DEMO_PREFIX}browser-{i}",
                                       source="demo").profile,
              name="page_viewed", source="demo", properties={"path": "/"},
              occurred_at=now - timedelta(minutes=rng.randint(5, 600)))
        for i in range(3)  # still anonymous
    ])


def _create_static_list(rng: random.Random, people: list[Profile]) -> None:
    vip, created = Segment.objects.get_or_create(
        name="VIP guests", defaults={"kind": Segment.Kind.STATIC,
                                     "description": "Hand-picked for the spring event."})
    if created:
        SegmentMember.objects.bulk_create(
            SegmentMember(segment=vip, profile=p, source="demo")
            for p in rng.sample(people, min(25, len(people)))
        )


def _create_placement() -> None:
    placement, created = Placement.objects.get_or_create(
        key="homepage_banner", defaults={"name": "Homepage banner"})
    if not created:
        return
    Offer.objects.create(
        placement=placement, name="Go Pro", priority=10,
        rules={"all": [{"type": "attribute", "key": "plan", "op": "equals", "value": "free"}]},
        content={"headline": "Go Pro: free shipping on every order", "cta": "/pro"},
        html="<strong>Go Pro</strong>: free shipping on every order.",
    )
    placement.fallback = Offer.objects.create(
        placement=placement, name="Spring collection", priority=0,
        content={"headline": "The spring collection is here", "cta": "/spring"},
        html="The spring collection is here.",
    )
    placement.save(update_fields=["fallback"])


# --- events ------------------------------------------------------------------------------

def _create_events(rng: random.Random, people: list[Profile], now: datetime) -> int:
    countries = {c.code: c for c in COUNTRIES}
    rows: list[Event] = []
    for profile in people:
        country = countries[profile.attributes["country"]]
        for _ in range(rng.choices((0, 1, 2, 3, 4), weights=(15, 30, 25, 18, 12))[0]):
            start = _session_start(rng, profile, now)
            rows += _session(rng, profile, country, start)
    for number, event in enumerate(rows, start=1):
        event.message_id = f"{DEMO_PREFIX}{number:07d}"
    Event.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return len(rows)


def _session_start(rng: random.Random, profile: Profile, now: datetime) -> datetime:
    signup = datetime.fromisoformat(profile.attributes["signup_date"]).replace(tzinfo=now.tzinfo)
    window = min(timedelta(days=EVENT_DAYS), now - signup)
    return now - timedelta(seconds=rng.uniform(3600, window.total_seconds()))


def _session(rng: random.Random, profile: Profile, country: Country,
             start: datetime) -> list[Event]:
    """One visit: pages, maybe a product, maybe the cart, maybe an order."""
    at = start
    page = {"path": rng.choice(PAGES), "referrer": rng.choice(REFERRERS)}
    events = [_event(profile, "page_viewed", page, at)]
    if rng.random() > 0.65:
        return events
    sku, name, category, usd = rng.choice(PRODUCTS)
    price = _price(usd, country)
    product = {"product_id": sku, "name": name, "category": category,
               "price": price, "currency": country.currency}
    at += timedelta(seconds=rng.randint(20, 300))
    events.append(_event(profile, "product_viewed", product, at))
    if rng.random() > 0.4:
        return events
    quantity = rng.choice((1, 1, 1, 2))
    at += timedelta(seconds=rng.randint(10, 180))
    events.append(_event(profile, "added_to_cart", {**product, "quantity": quantity}, at))
    if rng.random() > 0.55:
        return events
    order = {"order_id": f"DEMO-{rng.randint(100_000, 999_999)}",
             "total": _price(usd * quantity, country), "currency": country.currency,
             "items": [{"product_id": sku, "quantity": quantity, "price": price}]}
    at += timedelta(seconds=rng.randint(60, 600))
    events.append(_event(profile, "order_completed", order, at))
    return events


def _price(usd: float, country: Country) -> float:
    amount = usd * country.usd_rate
    return float(round(amount)) if country.currency == "JPY" else round(amount, 2)


def _event(profile: Profile, name: str, properties: dict, at: datetime) -> Event:
    return Event(profile=profile, name=name, properties=properties, occurred_at=at,
                 source=DEMO_SOURCE)


# --- segments and campaign ---------------------------------------------------------------

SEGMENTS = (
    ("Pro customers", "Everyone on the Pro plan.", "attributes.plan", "pro"),
    ("French speakers", "Profiles whose locale is fr-FR.", "locale", "fr-FR"),
    ("Newsletter readers", "Subscribed to the newsletter.", "attributes.newsletter", True),
)


def _create_segments() -> list[Segment]:
    created = []
    for name, description, field_name, value in SEGMENTS:
        if Segment.objects.filter(name=name).exists():
            continue  # a marketer's own segment of that name is left alone
        rules = {"all": [{"field": field_name, "op": "equals", "value": value}]}
        created.append(segment_save(name=name, description=description, rules=rules))
    return created


CAMPAIGN_NAME = "Spring picks for newsletter readers"
CAMPAIGN_SUBJECT = '{{ profile.first_name | default: "Hello" }}, your spring gear picks are in'
CAMPAIGN_HTML = """\
<!doctype html>
<html lang="en">
<body style="margin:0;padding:0;background:#f3f5f4;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f3f5f4;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0"
       style="max-width:600px;width:100%;background:#ffffff;border-radius:8px;
              font-family:Helvetica,Arial,sans-serif;color:#1f2a24;">
  <tr><td style="background:#1f6f50;color:#ffffff;padding:20px 32px;border-radius:8px 8px 0 0;
                 font-size:20px;font-weight:bold;letter-spacing:.5px;">
    Fernwood Outfitters</td></tr>
  <tr><td style="padding:32px;font-size:16px;line-height:1.55;">
    <h1 style="margin:0 0 16px;font-size:24px;">
      Hello {{ profile.first_name | default: "there" }},</h1>
    <p style="margin:0 0 16px;">The days are getting longer, and our spring collection has
    just landed: lighter layers, new trail shoes and a tent that packs down to the size of a
    loaf of bread.</p>
    {% if profile.attributes.interests.size > 0 %}
    <p style="margin:0 0 16px;">We picked a few things for you, with
    <strong>{{ profile.attributes.interests | join: ", " }}</strong> in mind.</p>
    {% endif %}
    {% case profile.attributes.plan %}
    {% when "enterprise" %}
    <p style="margin:0 0 16px;">As an Enterprise member, your team gets free express shipping
    on every order this month.</p>
    {% when "pro" %}
    <p style="margin:0 0 16px;">As a Pro member, you get <strong>20% off</strong> everything
    new this season.</p>
    {% else %}
    <p style="margin:0 0 16px;">Use code <strong>SPRING15</strong> for 15% off your first
    order of the season.</p>
    {% endcase %}
    <table role="presentation" cellpadding="0" cellspacing="0" style="margin:24px 0;">
      <tr><td style="background:#1f6f50;border-radius:6px;">
        <a href="https://example.com/spring" style="display:inline-block;padding:12px 24px;
           color:#ffffff;text-decoration:none;font-weight:bold;">See the spring collection</a>
      </td></tr>
    </table>
    <p style="margin:0;">See you on the trail,<br>The Fernwood team</p>
  </td></tr>
  <tr><td style="padding:16px 32px 28px;font-size:12px;line-height:1.5;color:#66736c;">
    You receive "{{ campaign.name }}" because you subscribed to our newsletter.
    This email was sent to {{ profile.email }}.
    <a href="{{ unsubscribe_url }}" style="color:#66736c;">Unsubscribe</a>
  </td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""


def _create_campaign() -> Campaign:
    return campaign_save(
        name=CAMPAIGN_NAME,
        description="Demo campaign: a personalized email, ready to schedule.",
        segment=Segment.objects.get(name="Newsletter readers"),
        subject=CAMPAIGN_SUBJECT,
        html_body=CAMPAIGN_HTML,
    )
