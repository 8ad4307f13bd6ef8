import pytest

from tests.support.http import LoopbackServer


@pytest.fixture
def site():
    """A loopback organizer site."""
    with LoopbackServer() as server:
        yield server
