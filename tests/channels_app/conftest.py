"""The delivery tests' shared stand-ins: a loopback Wuzapi and a WhatsApp channel pointed at it."""

import pytest

from tests.channels_app.support import wuzapi_channel
from tests.loopback.wuzapi import FakeWuzapi


@pytest.fixture
def wuzapi():
    with FakeWuzapi() as fake:
        yield fake


@pytest.fixture
def channel(wuzapi):
    return wuzapi_channel(wuzapi)
