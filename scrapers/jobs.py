from scheduler.registry import JobKind  # noqa: F401  placeholder until checks land
