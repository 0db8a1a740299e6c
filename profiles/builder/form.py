"""The rule tree as the builder page's form fields.

The page holds the tree as plain inputs named by the position of their row: the root group is
`r`, its children `r.0`, `r.1`, a child of `r.1` is `r.1.0`, and every input of a row is
`<path>.<name>` (`r.1.0.kind`, `r.1.0.op`, `r.1.0.value`, `r.1.0.where.2.property`). Each
change posts the whole form; the server rebuilds the rows from the names alone, applies the
button pressed (`do=add_condition:r.1`) and renders the rows again with fresh paths. So the
server is the only source of truth, no JSON is kept in sync on the page, and the same form
works without JavaScript (every button is a plain submit button).

Rows turn into the engine's rule tree (`Builder.rules()`), remembering which JSON path each
row became, so an engine error such as `$.all[1].any[0].value[1]` lands on row `r.1.0`, input
`value_high`. Values are converted by the type their row reads (a number input becomes a
number) and anything that does not convert is passed on as typed, for the engine to name the
problem: the builder has no validation rules of its own beyond its inputs' shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from profiles.builder.rows import (
    PROPERTY_OP_LABELS,
    PROPERTY_TYPES,
    ROOT,
    WINDOWS,
    Options,
    Row,
    settle_row,
)
from profiles.builder.tree import CONDITIONS, input_for, registered_node, row_from_node
from profiles.rules.schema import (
    CONSENT_CHANNELS,
    MAX_DEPTH,
    PROFILE_FIELDS,
    RuleError,
    _upgrade,
)

_NODE_NAME = re.compile(r"^r(?:\.\d{1,3})*$")
_WHERE_NAME = re.compile(r"^(r(?:\.\d{1,3})*)\.where\.(\d{1,2})\.(property|op|value|as)$")


class Builder:
    """The rows of one builder form, with the options its pickers offer."""

    # The fixed pickers, for the templates.
    profile_fields = [(name, label) for name, (label, _) in PROFILE_FIELDS.items()]
    consent_channels = CONSENT_CHANNELS
    windows = list(WINDOWS.items())
    property_ops = list(PROPERTY_OP_LABELS.items())
    property_types = list(PROPERTY_TYPES.items())

    def __init__(self, root: Row, options: Options):
        self.root = root
        self.options = options
        self._paths: dict[str, Row] = {}
        self.renumber()

    # --- reading -----------------------------------------------------------------------------

    @classmethod
    def from_post(cls, data, options: Options) -> Builder:
        """Rows from posted fields (a QueryDict or a dict of lists)."""
        rows: dict[str, Row] = {}
        for name in data:
            # Rows deeper than a tree may nest are never drawn, so never read either.
            if (name.endswith(".kind") and _NODE_NAME.match(name[:-5])
                    and name.count(".") <= MAX_DEPTH):
                path = name[:-5]
                negate = _first(data, f"{path}.not") == "on"
                rows[path] = Row(kind=_first(data, name), negate=negate)
        for path, row in rows.items():
            if not row.is_group:
                row.values = {key: _first(data, f"{path}.{key}") for key in _VALUE_INPUTS}
                row.values["choices"] = list(_all(data, f"{path}.choices"))
        filters: dict[str, dict[int, dict[str, str]]] = {}
        for name in data:
            match = _WHERE_NAME.match(name)
            if match:
                path, index, key = match.groups()
                filters.setdefault(path, {}).setdefault(int(index), {})[key] = _first(data, name)
        for path, by_index in filters.items():
            if path in rows:
                rows[path].where = [by_index[i] for i in sorted(by_index)]
        root = rows.get(ROOT) or Row(kind="all")
        if not root.is_group:
            root = Row(kind="all", children=[root])
        for path in sorted(rows, key=_path_key):
            parent = rows.get(path.rpartition(".")[0]) if path != ROOT else None
            if parent is not None and parent.is_group and _reachable(path, rows):
                parent.children.append(rows[path])
        builder = cls(root, options)
        builder.settle()
        return builder

    @classmethod
    def from_rules(cls, rules: Any, options: Options) -> Builder:
        """Rows that show a saved rule tree."""
        root = row_from_node(_upgrade(rules))
        if not root.is_group:
            root = Row(kind="all", children=[root])
        builder = cls(root, options)
        builder.settle()
        return builder

    # --- the buttons -----------------------------------------------------------------------

    def apply(self, action: str) -> None:
        """`add_condition:<group>`, `add_group:<group>`, `remove:<row>`, `add_where:<row>`,
        `remove_where:<row>:<index>`; anything else (a stale page) changes nothing."""
        verb, _, target = action.partition(":")
        path, _, index = target.partition(":")
        row = self._paths.get(path)
        if row is None:
            return
        if verb == "add_condition" and row.is_group:
            row.children.append(self.new_condition())
        elif verb == "add_group" and row.is_group and row.can_nest:
            row.children.append(Row(kind="any" if row.kind == "all" else "all",
                                    children=[self.new_condition()]))
        elif verb == "remove" and path != ROOT:
            parent = self._paths[path.rpartition(".")[0]]
            parent.children.remove(row)
        elif verb == "add_where" and row.kind == "event" and len(row.where) < 20:
            row.where.append({"property": "", "op": "equals", "value": "", "as": "text"})
        elif verb == "remove_where" and index.isdigit() and int(index) < len(row.where):
            del row.where[int(index)]
        self.renumber()
        self.settle()

    def new_condition(self) -> Row:
        return Row(kind="attribute" if self.options.attributes else "field")

    # --- the rule tree -------------------------------------------------------------------------

    def rules(self) -> dict:
        """The rule tree these rows spell, for the engine to validate."""
        self._json_paths: dict[str, Row] = {}
        self._local_errors: list[dict[str, str]] = []
        return self._node(self.root, "$")

    def validated(self, validate: Callable[[dict], dict]) -> dict:
        """The tree through `validate`; RuleError lists the builder's and the engine's
        problems together, so every bad row shows at once."""
        tree = self.rules()
        errors = list(self._local_errors)
        try:
            clean = validate(tree)
        except RuleError as exc:
            errors += [e for e in exc.errors if e not in errors]
        if errors:
            raise RuleError(errors)
        return clean

    def show_errors(self, errors: list[dict[str, str]]) -> None:
        """Put each error on its row and input."""
        if not hasattr(self, "_json_paths"):
            self.rules()
        for error in errors:
            row, rest = self._row_for(error["path"])
            name = input_for(row, rest)
            messages = row.errors.setdefault(name, [])
            if error["message"] not in messages:
                messages.append(error["message"])

    @property
    def has_errors(self) -> bool:
        return any(row.errors for row in self.rows())

    def rows(self) -> list[Row]:
        return list(self._paths.values())

    # --- internals -----------------------------------------------------------------------------

    def renumber(self) -> None:
        self._paths = {}

        def visit(row: Row, path: str) -> None:
            row.path = path
            self._paths[path] = row
            for i, child in enumerate(row.children):
                visit(child, f"{path}.{i}")

        visit(self.root, ROOT)

    def settle(self) -> None:
        """Give every condition a valid kind, picker choice and operator for what it reads,
        and decide which inputs it shows."""
        for row in self.rows():
            if not row.is_group:
                settle_row(row, self.options)

    def _node(self, row: Row, path: str) -> dict:
        self._json_paths[path] = row
        if row.negate:
            path = f"{path}.not"
            self._json_paths[path] = row
        if row.is_group:
            node: dict = {row.kind: [self._node(child, f"{path}.{row.kind}[{i}]")
                                     for i, child in enumerate(row.children)]}
        else:
            node = CONDITIONS.get(row.kind, registered_node)(row, path, self._local_errors)
        return {"not": node} if row.negate else node

    def _row_for(self, path: str) -> tuple[Row, str]:
        best = "$"
        for known in self._json_paths:
            if len(known) > len(best) and (
                path == known or path.startswith(known + ".") or path.startswith(known + "[")
            ):
                best = known
        return self._json_paths.get(best, self.root), path[len(best):]


_VALUE_INPUTS = ("field", "key", "op", "value", "value_low", "value_high", "value_type", "name",
                 "count", "window", "within_days", "between_from", "between_to", "channel",
                 "topic", "segment", "params")


def _first(data, name: str) -> str:
    values = _all(data, name)
    return str(values[-1]).strip() if values else ""


def _all(data, name: str) -> list:
    if hasattr(data, "getlist"):
        return data.getlist(name)
    value = data.get(name)
    return value if isinstance(value, list) else ([] if value is None else [value])


def _path_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.split(".")[1:])


def _reachable(path: str, rows: Mapping[str, Row]) -> bool:
    """Every ancestor of the path was posted too (a stray field cannot graft a branch)."""
    parts = path.split(".")
    return all(".".join(parts[:i]) in rows for i in range(1, len(parts)))
