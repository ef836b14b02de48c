"""The pure core: models and their rules, tasks and their states, ids, schedules.

Nothing here does I/O or imports another part of the project except ``reelgate.errors``.
"""
