"""Marketer-written Liquid: syntax errors with their line, escaping, and the sandbox."""

import pytest
from liquid.exceptions import LiquidError

from channels.templating import (
    TemplateSyntaxError,
    check_template,
    compile_template,
    profile_context,
)
from tests.factories import ProfileFactory

SCRIPT = "<script>alert(1)</script>"


def render(source: str, *, html: bool = False, **profile) -> str:
    return compile_template(source, html=html).render(
        {"profile": {"attributes": {}, **profile}, "campaign": {"name": "Spring"}}
    )


# --- check_template -----------------------------------------------------------------------


def test_a_syntax_error_reports_its_line():
    source = "<p>Hello</p>\n<p>{{ profile.first_name }}</p>\n{% if %}yes{% endif %}\n"

    with pytest.raises(TemplateSyntaxError) as raised:
        check_template(source, html=True)

    assert raised.value.line == 3
    assert str(raised.value).startswith("Line 3: ")


def test_an_unclosed_block_is_reported_on_the_last_line():
    with pytest.raises(TemplateSyntaxError) as raised:
        check_template("one\ntwo\n{% if profile.first_name %}three")

    assert raised.value.line == 3


def test_an_unknown_filter_is_refused_with_its_line():
    with pytest.raises(TemplateSyntaxError) as raised:
        check_template("Hello\n{{ profile.first_name | shout }}")

    assert raised.value.line == 2
    assert "shout" in str(raised.value)


def test_a_valid_template_using_profile_and_campaign_passes():
    check_template(
        "{{ profile.first_name | default: 'there' | upcase }} "
        "{% if profile.attributes.plan == 'pro' %}{{ campaign.name }}{% endif %}",
        html=True,
    )


# --- escaping -----------------------------------------------------------------------------


def test_profile_data_is_escaped_in_html():
    profile = ProfileFactory.build(first_name=SCRIPT)

    out = compile_template("<p>Hi {{ profile.first_name }}</p>", html=True).render(
        {"profile": profile_context(profile), "campaign": {}}
    )

    assert out == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_profile_data_stays_escaped_through_filters_and_assign():
    out = render(
        "{% assign n = profile.first_name | upcase %}{{ n }}", html=True, first_name=SCRIPT
    )

    assert "<SCRIPT>" not in out
    assert "&lt;SCRIPT&gt;" in out


def test_attributes_are_escaped_in_html():
    out = render("{{ profile.attributes.city }}", html=True, attributes={"city": '"><img src=x>'})

    assert out == "&#34;&gt;&lt;img src=x&gt;"


def test_profile_data_is_not_escaped_in_a_subject_or_text_part():
    out = render("Hi {{ profile.first_name }}", html=False, first_name=SCRIPT)

    assert out == f"Hi {SCRIPT}"


def test_the_marketers_own_markup_is_kept_in_html():
    assert render("<b>{{ 'bold' }}</b>", html=True) == "<b>bold</b>"


# --- sandbox ------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["include", "render"])
def test_a_template_cannot_read_files(tag):
    source = f"{{% {tag} 'config/settings/base.py' %}}"

    with pytest.raises(TemplateSyntaxError) as raised:
        check_template(source)
    with pytest.raises((LiquidError, TemplateSyntaxError)):
        render(source)

    assert "SECRET_KEY" not in str(raised.value)


def test_a_huge_loop_is_refused_when_checked():
    with pytest.raises(TemplateSyntaxError) as raised:
        check_template("{% for i in (1..100000000) %}x{% endfor %}")

    assert "loop iteration limit" in str(raised.value)


def test_nested_loops_count_towards_the_limit():
    with pytest.raises(LiquidError, match="loop iteration limit"):
        render("{% for i in (1..1000) %}{% for j in (1..1000) %}x{% endfor %}{% endfor %}")


def test_a_loop_over_profile_data_is_cut_off_at_render_time():
    source = "{% for item in profile.attributes.items %}{{ item }}{% endfor %}"
    check_template(source)  # fine with an empty profile

    with pytest.raises(LiquidError, match="loop iteration limit"):
        render(source, attributes={"items": list(range(20_000))})


def test_a_loop_under_the_limit_renders():
    assert render("{% for i in (1..100) %}x{% endfor %}") == "x" * 100


def test_output_is_cut_off_at_the_limit():
    source = "{% for i in (1..5000) %}{{ profile.attributes.blob }}{% endfor %}"

    with pytest.raises(LiquidError, match="output stream limit"):
        render(source, attributes={"blob": "x" * 1000})


def test_a_string_doubled_in_a_variable_is_cut_off():
    # 25 doublings would be 32 MiB without ever writing output.
    source = (
        "{% assign s = 'x' %}"
        "{% for i in (1..25) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}"
    )

    with pytest.raises(LiquidError, match="local namespace limit"):
        render(source)


def test_a_huge_range_given_to_a_filter_is_refused_not_materialized():
    # Given a template that would join a hundred million numbers
    source = "{{ (1..100000000) | join: ',' }}"

    # When it is checked at save time, then it is refused quickly with a clear reason
    with pytest.raises(TemplateSyntaxError, match="longer than"):
        check_template(source)


def test_filters_still_work_on_ordinary_lists():
    rendered = compile_template("{{ (1..5) | join: '-' }} {{ 'a,b' | split: ',' | size }}").render(
        {}
    )

    assert rendered == "1-2-3-4-5 2"
