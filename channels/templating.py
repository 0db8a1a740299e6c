"""Marketer-written Liquid, rendered sandboxed.

Templates only see a curated context (profile fields and attributes, the campaign), can
include no files — `{% render 'key' %}` reads a Snippet row and nothing else, and `include`
does not exist — and are cut off at a loop, output and time limit. In HTML every value from
the context is escaped (autoescape), so profile data cannot inject markup.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from liquid import BoundTemplate, Environment, RenderContext, is_undefined
from liquid.exceptions import (
    LiquidError,
    LiquidValueError,
    ResourceLimitError,
    TemplateNotFoundError,
)
from liquid.loader import BaseLoader, TemplateSource

# Seconds one render (a template and the snippets it renders) may take.
DEFAULT_RENDER_SECONDS = 2.0
# Snippets are read again after this long, so a batch does not query them per message.
SNIPPET_CACHE_SECONDS = 5.0
_SNIPPET_KEY = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


class TemplateSyntaxError(ValueError):
    def __init__(self, message: str, line: int | None):
        self.line = line
        super().__init__(f"Line {line}: {message}" if line else message)


class TemplateRenderError(ValueError):
    """A template that failed for this context (a limit hit, a missing snippet…)."""


class RenderTimeLimitError(ResourceLimitError):
    pass


class _DeadlineContext(RenderContext):
    """A render context that stops the render once its deadline has passed.

    The deadline lives on the context (copied to the contexts of rendered snippets), so it is
    safe in threads and needs no signal. It is checked where every piece of work goes through:
    variable lookups, filters, assignments and loops.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        parent = self.parent_context
        self.deadline = (
            parent.deadline if isinstance(parent, _DeadlineContext)
            else time.monotonic() + _render_seconds()
        )

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderTimeLimitError("render time limit reached", token=None)

    def get(self, *args, **kwargs):
        self.check_deadline()
        return super().get(*args, **kwargs)

    def resolve(self, *args, **kwargs):
        self.check_deadline()
        return super().resolve(*args, **kwargs)

    def filter(self, *args, **kwargs):  # noqa: A003
        self.check_deadline()
        return super().filter(*args, **kwargs)

    def assign(self, key: str, val: Any) -> None:
        self.check_deadline()
        super().assign(key, val)

    def raise_for_loop_limit(self, length: int = 1) -> None:
        self.check_deadline()
        super().raise_for_loop_limit(length)

    def extend(self, *args, **kwargs):
        self.check_deadline()
        return super().extend(*args, **kwargs)


def _render_seconds() -> float:
    return float(getattr(settings, "TEMPLATE_RENDER_SECONDS", DEFAULT_RENDER_SECONDS))


class _DeadlineTemplate(BoundTemplate):
    context_class = _DeadlineContext


class SnippetLoader(BaseLoader):
    """`{% render 'key' %}` finds the Snippet with that key; nothing else can be loaded."""

    def __init__(self):
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get_source(self, env, template_name: str, *, context=None, **kwargs) -> TemplateSource:
        if not isinstance(template_name, str) or not _SNIPPET_KEY.match(template_name):
            raise TemplateNotFoundError(f"no snippet {template_name!r}", token=None)
        now = time.monotonic()
        cached = self._cache.get(template_name)
        if cached and cached[0] > now:
            return TemplateSource(cached[1], template_name, None)
        from channels.models import Snippet

        source = Snippet.objects.filter(key=template_name).values_list("content", flat=True).first()
        if source is None:
            raise TemplateNotFoundError(f"no snippet {template_name!r}", token=None)
        with self._lock:
            self._cache[template_name] = (now + SNIPPET_CACHE_SECONDS, source)
        return TemplateSource(source, template_name, None)

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


snippet_loader = SnippetLoader()


def snippets_changed() -> None:
    """Call after a Snippet is saved or deleted: the next render reads it again."""
    snippet_loader.forget()


class _SandboxedEnvironment(Environment):
    template_class = _DeadlineTemplate
    loop_iteration_limit = settings.TEMPLATE_LOOP_LIMIT
    output_stream_limit = settings.TEMPLATE_MAX_OUTPUT_BYTES
    # `assign s = s | append: s` in a loop doubles a string without writing output; the
    # namespace limit stops it long before it exhausts the worker's memory.
    local_namespace_limit = settings.TEMPLATE_MAX_OUTPUT_BYTES

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        self.filters["json"] = json_filter
        # A range literal is lazy, but filters such as join or sort materialize it:
        # `{{ (1..100000000) | join }}` would take a worker's memory. Filters refuse inputs
        # longer than the loop limit.
        self.filters = {name: _bounded(f) for name, f in self.filters.items()}
        # `include` shares the caller's scope and could name anything; `render` (isolated,
        # snippets only) is the one way to reuse content.
        self.tags.pop("include", None)


def json_filter(value: Any) -> str:
    """`{{ profile.first_name | json }}` → `"Ada"`: a value as a JSON literal (quoted and
    escaped strings, numbers, booleans, null for a missing value, objects and lists), so a
    webhook payload template stays valid JSON whatever the profile holds."""
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if value is None or is_undefined(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or Infinity
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | range):
        return [_plain(v) for v in value]
    return str(value)  # a date, a decimal: its text


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
    # The only loader reads Snippet rows: templates cannot reach files.
    return _SandboxedEnvironment(autoescape=html, loader=snippet_loader)


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
        """Render for one context; a failure raises a liquid LiquidError (see render_safely)."""
        return self._template.render(**context)

    def render_safely(self, context: dict[str, Any]) -> str:
        """Render, raising TemplateRenderError (a ValueError) when the template fails."""
        try:
            return self._template.render(**context)
        except LiquidError as exc:
            raise TemplateRenderError(_message(exc)) from exc


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
