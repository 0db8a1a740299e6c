"""The audience rule engine: a JSON rule tree, validated, compiled to one SQL query, and
matched against one profile in Python with the same semantics.

    tree = validate(rules, catalog)        # RuleError with the JSON path of each bad node
    q = compile_q(tree, context)           # a Q over Profile; values are bound parameters
    matches(tree, facts, now)              # the same answer for one profile, no SQL

See schema.py for the node types and operators.
"""

from profiles.rules.schema import Catalog, RuleError, validate

__all__ = ["Catalog", "RuleError", "validate"]
