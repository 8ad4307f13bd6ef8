"""Calling management commands in tests, with their output captured."""

import io

import pytest
from django.core.management import CommandError, call_command


def call(*args, stdin=None, **options):
    """Run a command; return (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def call_failing(*args, stdin=None, **options):
    """Run a command that must fail; return (the CommandError's message, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    with pytest.raises(CommandError) as failure:
        call_command(*args, stdout=out, stderr=err, **options)
    return str(failure.value), out.getvalue(), err.getvalue()
