"""Email rendering throughput of render_template, per process (one core).

    python bench/render.py [--quick]

Given a marketing newsletter (subject, preheader, HTML with a <style> block, three literal
links, a personalized link, the unsubscribe link) and N profiles, render_template produces
each message as sent: Liquid, links rewritten to signed click URLs, CSS inlined (css-inline),
open pixel, generated plain text, List-Unsubscribe headers. Repeated 3 times, median reported.
Floor: python-liquid alone rendering the same subject and HTML for the same profiles (what a
plain script would do without tracking, inlining or the text part).
"""

from __future__ import annotations

import argparse
import time

from harness import bench_environment, django_setup, median, report

SUBJECT = "Hello {{ profile.first_name | default: 'there' }}, spring is here"
HTML = """<html><head><style>
  body { font-family: Arial, sans-serif; } h1 { color: #223344; font-size: 22px; }
  p { line-height: 1.5; margin: 0 0 12px; } .cta { background: #4455ee; color: #fff; }
  @media (max-width: 600px) { h1 { font-size: 18px; } }
</style></head><body>
<h1>Hello {{ profile.first_name | default: 'there' }}</h1>
<p>Thanks for being on the {{ profile.attributes.plan }} plan.</p>
<p><a class="cta" href="https://shop.example/spring?src=mail">Spring sale</a></p>
<p><a href="https://shop.example/new">New arrivals</a> · <a href="https://shop.example/help">Help</a></p>
<p><a href="https://shop.example/u/{{ profile.external_id }}">Your account</a></p>
{% if profile.attributes.plan == 'pro' %}<p>Your pro perks are waiting.</p>{% endif %}
<p class="small"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profiles", type=int)
    args = parser.parse_args()
    n = args.profiles or (2_000 if args.quick else 20_000)

    with bench_environment("render"):
        django_setup()
        from channels.message_templates import (
            render_template,
            template_latest_revision,
            template_save,
        )
        from channels.models import Channel, Delivery, MessageKind
        from channels.templating import compile_template, profile_context
        from profiles.models import Profile

        template = template_save(
            name="Bench newsletter", channel=Channel.EMAIL, kind=MessageKind.MARKETING,
            content={"subject": SUBJECT, "preheader": "New season, new offers", "html": HTML,
                     "text": "", "utm": {"utm_source": "itinera", "utm_medium": "email"}},
        )
        revision = template_latest_revision(template)
        profiles = Profile.objects.bulk_create(
            Profile(external_id=f"b{i}", email=f"b{i}@example.com", first_name=f"Name{i}",
                    attributes={"plan": "pro" if i % 3 == 0 else "free"})
            for i in range(n)
        )
        deliveries = Delivery.objects.bulk_create(
            Delivery(profile=p, address=p.email, template_revision=revision) for p in profiles
        )
        pairs = list(zip(profiles, deliveries, strict=True))

        def itinera() -> float:
            start = time.perf_counter()
            for profile, delivery in pairs:
                render_template(revision=revision, profile=profile, delivery_id=delivery.pk)
            return n / (time.perf_counter() - start)

        subject = compile_template(SUBJECT)
        body = compile_template(HTML, html=True)

        def floor() -> float:
            start = time.perf_counter()
            for profile, _ in pairs:
                context = {"profile": profile_context(profile), "campaign": {},
                           "unsubscribe_url": "https://x.example/u/1"}
                subject.render(context)
                body.render(context)
            return n / (time.perf_counter() - start)

        itinera(), floor()  # warm caches (compiled revision, routes, keys)
        figures = [itinera() for _ in range(3)]
        floors = [floor() for _ in range(3)]
    print(f"floor: {median(floors):,.0f} renders/s (python-liquid subject + HTML)")
    print(f"itinera: {median(figures):,.0f} renders/s (render_template, email as sent)")
    report("render", median(figures), "renders/s", median(floors), n=n, repeats=3)


if __name__ == "__main__":
    main()
