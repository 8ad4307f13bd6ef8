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


from tests.support.browser import browser_page, chromium  # noqa: E402,F401  (browser fixtures)
from tests.support.web import staff_client, viewer_client  # noqa: E402,F401  (logged-in test clients)
