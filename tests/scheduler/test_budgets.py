"""The one slot mechanism (scheduler.shared.budgets): reserving, max_wait, hold, per-row rates, and the database's
clock on PostgreSQL. The host and channel wrappers are tested in tests/scrapers/test_ratelimit.py and
tests/channels_app/test_pacing.py."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from scheduler.errors import TransientError
from scheduler.models import Budget
from scheduler.shared import budgets

# Outside a transaction: PostgreSQL's one statement runs as it does in a worker.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.alone]
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's clock")


def slot_of(name):
    return Budget.objects.get(pk=name).next_slot_at


def test_a_first_use_creates_the_row_and_the_next_slot_is_one_spacing_on():
    assert budgets.reserve("b:new", 4) == 0
    wait = budgets.reserve("b:new", 4)
    assert 0.2 < wait <= 0.25  # 1/4 s, less the moment between the two
    budget = Budget.objects.get(pk="b:new")
    assert budget.per_second is None  # the caller's default, not stored


def test_the_margin_widens_the_spacing():
    budgets.reserve("b:margin", 10, margin=1.5)
    assert 0.1 < budgets.reserve("b:margin", 10, margin=1.5) <= 0.15  # 1.5 × 1/10 s


def test_wait_for_sleeps_until_each_slot():
    moments = []
    for _ in range(6):
        budgets.wait_for("b:spaced", 5)
        moments.append(time.monotonic())
    # Slots are fixed in time, 1/5 s apart: each call returns no earlier than its slot (a call that woke late
    # does not push the next slot back, so two calls may come closer than 1/5 s; never ahead of the rate).
    late = [moments[k] - (moments[0] + k * 0.2) for k in range(len(moments))]
    assert min(late) >= -0.02, late  # clocks read a moment apart
    assert moments[-1] - moments[0] >= 0.98  # 5 × 1/5 s


def test_a_slot_beyond_max_wait_is_not_reserved_and_the_wait_is_told():
    budgets.reserve("b:slow", 1)  # the next slot is 1 s away
    reserved = slot_of("b:slow")
    with pytest.raises(budgets.SlotTooFar) as caught:
        budgets.reserve("b:slow", 1, max_wait=0.5)
    far = caught.value
    assert 0.9 < far.wait <= 1.0 and far.name == "b:slow"
    assert isinstance(far, TransientError) and far.retry_after == far.wait  # a run that lets it out waits
    assert abs((far.not_before - timezone.now()).total_seconds() - far.wait) < 0.1
    assert str(far) == "rate limit for b:slow: next slot in 1.0 s"
    assert slot_of("b:slow") == reserved  # nothing taken
    with pytest.raises(budgets.SlotTooFar):
        budgets.wait_for("b:slow", 1, max_wait=0.5)  # nor slept
    assert slot_of("b:slow") == reserved
    assert 0.5 < budgets.reserve("b:slow", 1, max_wait=2) <= 1.0  # within max_wait: taken
    assert slot_of("b:slow") > reserved


def test_max_wait_zero_takes_only_a_free_slot():
    assert budgets.reserve("b:zero", 2, max_wait=0) == 0
    with pytest.raises(budgets.SlotTooFar):
        budgets.reserve("b:zero", 2, max_wait=0)


def test_hold_pushes_the_slot_for_everyone_and_never_pulls_it_in():
    budgets.hold("b:held", 2)  # a first use may be a hold: the row is created
    with pytest.raises(budgets.SlotTooFar) as caught:
        budgets.reserve("b:held", 100, max_wait=1.5)  # whatever the rate
    assert 1.8 < caught.value.wait <= 2.0
    held = slot_of("b:held")
    budgets.hold("b:held", 0.5)  # a shorter pause does not shorten the longer one
    assert slot_of("b:held") == held
    budgets.hold("b:held", 3)
    assert 2.8 < (budgets.next_free("b:held") - timezone.now()).total_seconds() <= 3.0


def test_the_rows_rate_overrides_the_callers_default():
    budgets.set_rate("b:fast", 20)
    started = time.monotonic()
    for _ in range(4):
        budgets.wait_for("b:fast", 1)  # the caller says 1/s; the row says 20/s
    assert time.monotonic() - started < 0.5
    budgets.wait_for("b:other", 1)
    with pytest.raises(budgets.SlotTooFar):
        budgets.reserve("b:other", 1, max_wait=0.5)  # the caller's default where the row sets none

    budgets.set_rate("b:fast", None)  # back to the caller's default
    time.sleep(0.06)
    budgets.reserve("b:fast", 1, max_wait=0.5)
    with pytest.raises(budgets.SlotTooFar):
        budgets.reserve("b:fast", 1, max_wait=0.5)
    for bad in (0, -1):
        with pytest.raises(ValueError):
            budgets.set_rate("b:fast", bad)
        with pytest.raises(ValueError):
            budgets.reserve("b:fast", bad)
    assert Budget.objects.get(pk="b:fast").per_second is None


def test_set_rate_on_a_new_budget_leaves_its_first_slot_free():
    budgets.set_rate("b:preset", 2)
    assert budgets.next_free("b:preset") is None
    assert budgets.reserve("b:preset", 1000, max_wait=0) == 0
    assert 0.45 < budgets.reserve("b:preset", 1000) <= 0.5


def test_next_free_is_none_when_free_and_a_moment_on_this_clock_otherwise():
    assert budgets.next_free("b:unknown") is None
    budgets.reserve("b:page", 1)
    ahead = (budgets.next_free("b:page") - timezone.now()).total_seconds()
    assert 0.9 < ahead <= 1.0


def test_concurrent_first_uses_create_one_row_and_take_distinct_slots():
    barrier, moments, errors = threading.Barrier(4), [], []

    def first_use():
        try:
            barrier.wait(5)
            budgets.wait_for("b:race", 10)
            moments.append(time.monotonic())
        except Exception as exc:  # reported below: an IntegrityError here is the race this test is about
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and len(moments) == 4
    assert Budget.objects.filter(pk="b:race").count() == 1
    moments.sort()
    assert min(later - earlier for earlier, later in zip(moments, moments[1:], strict=False)) > 0.08  # 1/10 s


# --- the database's clock -------------------------------------------------------------------------------


def database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


@pytest.fixture
def skewed(monkeypatch):
    """This worker's clock set `offset` seconds away from the real one (timezone.now, which the Django side
    of the code reads)."""
    real = timezone.now

    def skew(offset):
        monkeypatch.setattr(timezone, "now", lambda: real() + timedelta(seconds=offset))

    yield skew
    monkeypatch.setattr(timezone, "now", real)


@on_postgresql
@pytest.mark.parametrize("offset", [3600, -3600])
def test_slots_come_from_the_databases_clock_whatever_the_workers(skewed, offset):
    skewed(offset)  # a worker whose clock is an hour off
    before = database_now()
    assert budgets.reserve("b:clock", 2) == 0  # free now, on the database's clock
    wait = budgets.reserve("b:clock", 2)
    after = database_now()
    assert 0.45 < wait <= 0.5  # one spacing, not an hour more or less
    # The row's slot is the database's now plus two spacings (the first slot was taken at clock_timestamp()).
    slot = slot_of("b:clock")
    assert before + timedelta(seconds=1.0) <= slot <= after + timedelta(seconds=1.0)
    budgets.hold("b:clock", 5)
    assert before + timedelta(seconds=5) <= slot_of("b:clock") <= database_now() + timedelta(seconds=5)
    budgets.set_rate("b:new-clock", 1)
    assert before <= slot_of("b:new-clock") <= database_now()

    skewed(0)  # another worker, whose clock is right, agrees on the slots
    with pytest.raises(budgets.SlotTooFar) as caught:
        budgets.reserve("b:clock", 2, max_wait=1)
    assert 4 < caught.value.wait <= 5
    assert abs((caught.value.not_before - timezone.now()).total_seconds() - caught.value.wait) < 0.1
    assert budgets.reserve("b:new-clock", 2, max_wait=0) == 0  # set_rate's row is free now for everyone


@on_postgresql
def test_a_reservation_is_one_statement(django_assert_num_queries):
    with django_assert_num_queries(1):
        budgets.reserve("b:one", 1)  # first use: the row is inserted
    with django_assert_num_queries(1):
        budgets.reserve("b:one", 1)
    with django_assert_num_queries(1), pytest.raises(budgets.SlotTooFar):
        budgets.reserve("b:one", 1, max_wait=0.1)  # too far: the wait comes back in the same statement
    with django_assert_num_queries(1):
        budgets.hold("b:one", 2)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite has no server clock")
def test_on_sqlite_the_slots_are_on_the_process_clock(skewed):
    skewed(3600)
    budgets.reserve("b:local", 2)
    assert abs((slot_of("b:local") - timezone.now()).total_seconds() - 0.5) < 0.1
