"""What a browser would post from a rendered page: the fields of one form, read from HTML."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, form_id: str | None):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = form_id is None
        self.depth = 0
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._option: dict | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.fields.append((name, attrs.get("value", "on")))
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self.fields.append((name, attrs.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
        elif tag == "option" and self._select:
            self._option = attrs
            self._text = ""
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data):
        if self._option is not None or self._textarea:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "form" and self.inside and self.form_id:
            self.inside = False
        if tag == "option" and self._option is not None:
            value = self._option.get("value", self._text.strip())
            if self._select_first is None:
                self._select_first = value
            if "selected" in self._option:
                self.fields.append((self._select, value))
                self._select_chosen = True
            self._option = None
        elif tag == "select" and self._select:
            if not self._select_chosen and self._select_first is not None:
                self.fields.append((self._select, self._select_first))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, self._text.lstrip("\n")))
            self._textarea = None


def form_fields(html: str | bytes, form_id: str | None = "segment-form") -> list[tuple[str, str]]:
    """The (name, value) pairs the form would submit, in document order."""
    reader = _FormReader(form_id)
    reader.feed(html.decode() if isinstance(html, bytes) else html)
    return reader.fields


def with_values(fields: list[tuple[str, str]], **changes: str) -> dict[str, list[str]]:
    """The fields as post data, with some replaced (`r__0__value="pro"` names `r.0.value`)."""
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    for key, value in changes.items():
        data[key.replace("__", ".")] = [value]
    return data
