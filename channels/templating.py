"""Marketer-written Liquid, rendered sandboxed.

Templates only see a curated context (profile fields and attributes, the campaign), can
include no files, and are cut off at a loop and output limit. In HTML every value from the
context is escaped (autoescape), so profile data cannot inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from liquid import Environment
from liquid.exceptions import LiquidError, LiquidValueError


class TemplateSyntaxError(ValueError):
    def __init__(self, message: str, line: int | None):
        self.line = line
        super().__init__(f"Line {line}: {message}" if line else message)


class _SandboxedEnvironment(Environment):
    loop_iteration_limit = settings.TEMPLATE_LOOP_LIMIT
    output_stream_limit = settings.TEMPLATE_MAX_OUTPUT_BYTES
    # `assign s = s | append: s` in a loop doubles a string without writing output; the
    # namespace limit stops it long before it exhausts the worker's memory.
    local_namespace_limit = settings.TEMPLATE_MAX_OUTPUT_BYTES

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        # A range literal is lazy, but filters such as join or sort materialize it:
        # `{{ (1..100000000) | join }}` would take a worker's memory. Filters refuse inputs
        # longer than the loop limit.
        self.filters = {name: _bounded(f) for name, f in self.filters.items()}


def _bounded(filter_func):
    limit = settings.TEMPLATE_LOOP_LIMIT

    def bounded(value, *args, **kwargs):
        if isinstance(value, range | list | tuple) and len(value) > limit:
            raise LiquidValueError(f"a filter input longer than {limit} items", token=None)
        return filter_func(value, *args, **kwargs)

    for flag in ("with_context", "with_environment"):
        if getattr(filter_func, flag, False):
            setattr(bounded, flag, True)
    return bounded


@lru_cache(maxsize=2)
def _environment(html: bool) -> Environment:
    # No loader: `include` / `render` find nothing, so templates cannot read files.
    return _SandboxedEnvironment(autoescape=html)


def check_template(source: str, *, html: bool = False) -> None:
    """Raise TemplateSyntaxError (with its line) if the source would fail to render.

    Parsing catches syntax; a trial render with an empty profile catches unknown filters,
    which python-liquid only reports at render time.
    """
    template = compile_template(source, html=html)
    try:
        template.render({"profile": {"attributes": {}}, "campaign": {}})
    except LiquidError as exc:
        raise TemplateSyntaxError(_message(exc), _line(exc, source)) from exc


@dataclass(frozen=True)
class CompiledTemplate:
    """Parse once, render for many profiles."""

    _template: Any

    def render(self, context: dict[str, Any]) -> str:
        return self._template.render(**context)


def compile_template(source: str, *, html: bool = False) -> CompiledTemplate:
    try:
        return CompiledTemplate(_environment(html).from_string(source))
    except LiquidError as exc:
        raise TemplateSyntaxError(_message(exc), _line(exc, source)) from exc


def profile_context(profile) -> dict[str, Any]:
    """What a template may read of a profile: named fields and its attributes."""
    return {
        "external_id": profile.external_id,
        "email": profile.email,
        "phone": profile.phone,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "full_name": profile.full_name,
        "timezone": profile.timezone,
        "locale": profile.locale,
        "attributes": dict(profile.attributes or {}),
    }


def _line(exc: LiquidError, source: str) -> int | None:
    token = getattr(exc, "token", None)
    if token is None:
        return None
    if token.start_index < 0:  # "unexpected end of template": the last line
        return source.count("\n") + 1
    return (token.source or source).count("\n", 0, token.start_index) + 1


def _message(exc: LiquidError) -> str:
    return getattr(exc, "message", None) or str(exc).splitlines()[0]
