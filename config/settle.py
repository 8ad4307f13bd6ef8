"""What a web process does once Django is set up, before it serves: load every URL's views (the API's
schemas included) and freeze what is loaded.

Frozen objects are left out of the garbage collector's passes. Without it, each full collection walks
everything the process loaded (Django, the apps, their views): about 60 ms on this machine's benchmarks, paid
by whichever request is running then (`bench dashboard` saw it as one page's p95). With it, a collection walks
only what requests made since."""

import gc

from django.urls import get_resolver


def settle() -> None:
    get_resolver().url_patterns  # noqa: B018 - the URLconf and every view module it imports
    gc.collect()  # what setup left behind goes now, not frozen for ever
    gc.freeze()
