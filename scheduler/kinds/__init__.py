"""Built-in job kinds; each module registers itself. Other apps register theirs in their AppConfig.ready()."""

from scheduler.kinds import http_request, noop, prune_history, prune_runs  # noqa: F401
