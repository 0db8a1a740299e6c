"""Marketer-written templates are untrusted code: payloads that reach for Python internals,
settings, the environment or files render inert or are refused; runaway loops hit a limit."""

import pytest

from channels.message_templates import TemplateError, render_template, template_save
from channels.models import Channel, Snippet
from channels.templating import (
    TemplateRenderError,
    TemplateSyntaxError,
    check_template,
    compile_template,
    profile_context,
    snippets_changed,
)
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def render(source: str, profile=None, **extra) -> str:
    profile = profile or ProfileFactory()
    context = {"profile": profile_context(profile), "campaign": {}, **extra}
    return compile_template(source, html=True).render_safely(context)


@pytest.mark.parametrize(
    "payload",
    [
        "{{ profile.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ profile.__class__.__init__.__globals__ }}",
        "{{ profile.attributes.__class__.__subclasses__ }}",
        "{{ settings.SECRET_KEY }}",
        "{{ profile.email.__class__ }}",
        "{{ environ.HOME }}{{ os.environ }}",
        "{{ profile['__dict__'] }}",
        "{{ profile.attributes.items }}{{ profile.attributes.keys }}",
    ],
)
def test_payloads_reaching_for_python_internals_render_inert(payload, settings):
    # Given a profile and a payload; when it is rendered, then it is refused as a syntax
    # error or shows nothing of Python
    try:
        output = render(payload)
    except TemplateSyntaxError as refused:
        output = str(refused)
        assert "Line 1" in output
    else:
        assert output == ""
    assert settings.SECRET_KEY not in output
    assert "class" not in output.replace("__class__", "")


@pytest.mark.parametrize(
    "payload",
    [
        "{% include '/etc/passwd' %}",
        "{% include 'config/settings/base.py' %}",
        "{% render '../settings' %}",
        "{% render '/etc/passwd' %}",
        "{% render 'config/settings/base.py' %}",
    ],
)
def test_payloads_reading_files_are_refused_at_save(payload):
    with pytest.raises(TemplateError) as raised:
        template_save(
            name="x", channel=Channel.SMS, kind="transactional",
            content={"body": f"Hi {payload}"},
        )

    assert "body" in raised.value.errors
    assert "root:" not in str(raised.value)


def test_a_file_include_never_renders_even_when_compiled_directly():
    with pytest.raises(TemplateSyntaxError):
        compile_template("{% include '/etc/passwd' %}")
    with pytest.raises(TemplateRenderError):
        render("{% render '../settings' %}")


def test_render_reads_a_snippet_row():
    # Given a snippet; when a template renders it, then its content appears with the profile
    Snippet.objects.create(key="footer", content="<p>Bye {{ name }}</p>")
    snippets_changed()
    profile = ProfileFactory(first_name="Ada")

    output = render("{% render 'footer', name: profile.first_name %}", profile=profile)

    assert output == "<p>Bye Ada</p>"


def test_an_unknown_snippet_is_refused_with_its_line():
    with pytest.raises(TemplateSyntaxError) as raised:
        check_template("line one\n{% render 'nope' %}")

    assert raised.value.line == 2


def test_a_snippet_cannot_render_itself_forever():
    Snippet.objects.create(key="loop", content="x{% render 'loop' %}")
    snippets_changed()

    with pytest.raises(TemplateRenderError):
        render("{% render 'loop' %}")


def test_a_million_iteration_loop_hits_the_limit_at_save():
    with pytest.raises(TemplateError) as raised:
        template_save(
            name="x", channel=Channel.SMS, kind="transactional",
            content={"body": "{% for i in (1..1000000) %}x{% endfor %}"},
        )

    assert "limit" in raised.value.errors["body"]


def test_a_million_iterations_in_nested_loops_hit_the_limit_at_render():
    source = "{% for i in (1..1000) %}{% for j in (1..1000) %}x{% endfor %}{% endfor %}"

    with pytest.raises(TemplateRenderError, match="limit"):
        render(source)


def test_a_render_past_its_deadline_stops(settings):
    # Given a render time limit no real render fits in
    settings.TEMPLATE_RENDER_SECONDS = 0
    source = "{% for i in (1..5000) %}{{ profile.first_name | upcase }}{% endfor %}"

    # When a loop runs, then it stops on the time limit
    with pytest.raises(TemplateRenderError, match="time limit"):
        render(source)


def test_a_render_under_the_deadline_finishes(settings):
    settings.TEMPLATE_RENDER_SECONDS = 5

    assert render("{% for i in (1..3) %}{{ i }}{% endfor %}") == "123"


def test_a_saved_template_failing_for_one_profile_raises_a_render_error():
    # Given a template looping over an attribute; a profile with a huge list
    template = template_save(
        name="x", channel=Channel.SMS, kind="transactional",
        content={"body": "{% for i in profile.attributes.items %}{{ i }}{% endfor %}"},
    )
    profile = ProfileFactory(attributes={"items": list(range(50_000))})

    with pytest.raises(TemplateRenderError):
        render_template(revision=template.revisions.get(), profile=profile)


def test_profile_data_is_escaped_in_html():
    profile = ProfileFactory(first_name="<script>alert(1)</script>")

    assert "<script>" not in render("<p>{{ profile.first_name }}</p>", profile=profile)


def test_an_mjml_include_cannot_read_files():
    with pytest.raises(TemplateError) as raised:
        template_save(
            name="x", channel=Channel.EMAIL, kind="transactional",
            content={"subject": "s", "mjml": '<mjml><mj-body><mj-include path="/etc/passwd" />'
                     "</mj-body></mjml>"},
        )

    assert "MJML" in raised.value.errors["mjml"]
    assert "root:" not in str(raised.value)
