"""The sync engine: one run of a hub (``run.run_hub``) and its steps, each in its own module:
``inbound`` (pull, filter, match, merge), ``merge`` (the three-way merge, pure),
``outbound`` (plan and apply), ``undo``. It reaches systems only through
``connectors.base`` and the database only through ``store.repo``."""
