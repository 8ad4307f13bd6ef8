"""Benchmarks: `python manage.py bench NAME [--quick]`. Each registers a function that returns its figures."""

BENCHMARKS = {}


def register(name):
    def decorator(function):
        BENCHMARKS[name] = function
        return function

    return decorator


def discover():
    """Import every app's `bench` module (scheduler.bench registers its own below)."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("bench")


from scheduler.bench import scheduler_bench  # noqa: E402,F401  (registers "scheduler")
