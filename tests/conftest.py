import os

import pytest

from tests.support.processes import Processes


@pytest.fixture
def processes(tmp_path):
    """Real scheduler/qcluster processes on the test database; all are stopped after the test."""
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture(autouse=True)
def _test_kinds():
    import tests.support.kinds  # noqa: F401  (registers the test-only kinds in this process too)


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a pt-BR request's language stays active in the thread after
    the response (Django does not reset it), and would otherwise leak into whichever test runs next."""
    from django.utils import translation

    yield
    translation.deactivate()


from tests.support.browser import browser_page, chromium  # noqa: E402,F401  (browser fixtures)
from tests.support.web import operator_client, staff_client, viewer_client  # noqa: E402,F401  (logged-in test clients)

# Tiers: a test that uses Chromium is `browser`, one that starts real processes `process`, whether or not its
# module says so, so `pytest -m "not process and not browser"` (make fast) leaves out exactly those.
SLOW_FIXTURES = {"browser_page": "browser", "chromium": "browser", "processes": "process"}


# In parallel (pytest-xdist), the longest tests go first, so none of them is still running alone at the end.
FIRST = ("fault", "process", "slow", "browser")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in set(SLOW_FIXTURES).intersection(getattr(item, "fixturenames", ())):
            item.add_marker(SLOW_FIXTURES[fixture])
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker sorts alike, so they agree on the order
        items.sort(key=lambda item: next((i for i, m in enumerate(FIRST) if item.get_closest_marker(m)), len(FIRST)))
