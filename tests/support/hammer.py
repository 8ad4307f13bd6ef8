"""Fetch one URL as fast as the shared rate limit allows, from a separate process (for the rate-limit tests).

    python -m tests.support.hammer URL START END    # from the project root; START/END: time.time() values

Waits until START (so several hammers begin together), fetches until END, prints how many fetches it made.
Run it as a module (as a script, this directory would come first on sys.path and its http.py would hide
the standard library's) with tests.support.processes.django_env(), which points it at the test database.
"""

import sys
import time

import django


def main(url, start, end):
    django.setup()
    from scheduler.shared.budgets import SlotTooFar
    from scrapers.sources.fetch import fetch

    time.sleep(max(0.0, start - time.time()))
    deadline = time.monotonic() + (end - time.time())
    count = 0
    while time.time() < end:
        try:
            fetch(url, retries=0, timeout=5, deadline=deadline)
        except SlotTooFar:
            break  # the next slot is past the end
        count += 1
    print(count, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
