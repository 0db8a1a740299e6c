"""The segment builder page's model: the rule tree as form fields, and back.

form.py      the Builder: posted fields → rows, the buttons' actions, rows ↔ rule tree, engine
             errors put back on their row and input (the design is in its docstring)
rows.py      a row (group or condition), what the pickers offer, a row settled on valid choices
tree.py      rows → rule tree → rows, and which input an error path names
options.py   what the pickers offer (attributes, event names seen, topics, segments)
preview.py   the live count and sample, bounded by a statement timeout
"""
