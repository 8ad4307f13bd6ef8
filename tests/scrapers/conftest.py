import pytest

from tests.loopback.server import LoopbackServer


@pytest.fixture
def site():
    """A loopback organizer site."""
    with LoopbackServer() as server:
        yield server
