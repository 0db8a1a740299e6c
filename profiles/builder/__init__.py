"""The segment builder page's model: the rule tree as form fields, and back.

form.py      posted fields ↔ rows (groups and conditions) ↔ rule tree; the buttons' actions;
             errors of the rule engine mapped back to the row and input they are about
options.py   what the pickers offer (attributes, event names seen, topics, segments)
preview.py   the live count and sample, bounded by a statement timeout
"""
