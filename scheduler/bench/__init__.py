"""Benchmarks: `python manage.py bench NAME [--quick]`. Each registers a function that returns its figures."""

BENCHMARKS = {}


def register(name):
    def decorator(function):
        BENCHMARKS[name] = function
        return function

    return decorator
