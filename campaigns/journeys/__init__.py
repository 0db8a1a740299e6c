"""The journey runtime: loads what the pure engine (campaigns.engine) needs, in bulk, and
executes the actions it returns. Modules: facts (profile facts for a batch), entry, walk,
jobs."""
