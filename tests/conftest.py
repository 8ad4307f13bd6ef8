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
