"""Leader election through the database lease."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduler import lease
from scheduler.models import Lease

pytestmark = pytest.mark.django_db


def test_one_leader_at_a_time_and_renewal():
    assert lease.try_acquire("a", ttl=10)
    assert not lease.try_acquire("b", ttl=10)
    assert lease.try_acquire("a", ttl=10)  # renewing
    assert lease.current().holder == "a"


def test_a_standby_takes_over_once_the_lease_expires():
    assert lease.try_acquire("a", ttl=10)
    Lease.objects.update(expires_at=timezone.now() - timedelta(milliseconds=1))
    assert lease.try_acquire("b", ttl=10)
    assert not lease.try_acquire("a", ttl=10)
    with pytest.raises(lease.LostLease):
        lease.fence("a", ttl=10)


def test_release_lets_a_standby_in_at_once():
    assert lease.try_acquire("a", ttl=10)
    lease.release("a")
    assert lease.try_acquire("b", ttl=10)
