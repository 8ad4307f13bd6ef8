"""Contract tests: what scheduler.djq relies on in django-q2 still holds.

Each test fails with a message naming what changed in django-q2 (a payload key, a table column, a broker
hook, a Conf attribute, a Stat field), so an upgrade that would break dispatch fails here first. Where
practical the check runs django-q2's own code: its async_task builds the reference payload, and its real
pusher, worker and monitor functions take our rows through real multiprocessing queues.
"""

import inspect
import pickle
import signal
import socket
import subprocess
import time
import uuid
from datetime import timedelta
from multiprocessing import Event, Value

import pytest
from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM
from django_q.cluster import Sentinel
from django_q.conf import Conf
from django_q.models import OrmQ, Task
from django_q.monitor import monitor
from django_q.pusher import pusher
from django_q.queues import Queue
from django_q.signing import SignedPackage
from django_q.status import Stat
from django_q.tasks import async_task
from django_q.worker import worker

from scheduler import djq, queue
from scheduler.models import ClusterPresence

pytestmark = pytest.mark.django_db
HERE = __name__  # the worker resolves our test functions by dotted path


def record(*args, **kwargs):
    return {"args": args, "kwargs": kwargs}


def explode(*args):
    raise RuntimeError(f"planned failure {args}")


def linger(seconds):
    time.sleep(seconds)
    return "lingered"


def _drain(q, count, timeout=10):
    return [q.get(timeout=timeout) for _ in range(count)]


# --- the payload ----------------------------------------------------------------------------------------


class _Capture:
    """A broker that keeps what django-q2's async_task would push."""

    list_key = "default"

    def enqueue(self, pack):
        self.pack = pack
        return 1


@pytest.fixture(autouse=True)
def fresh_capacity(monkeypatch):
    """A cluster's capacity of its own (the module keeps one per process, as a cluster's main does): one made
    by an earlier test of this worker process for other served queues would not fit this test's broker."""
    monkeypatch.setattr(djq, "_capacity", None)
    monkeypatch.setattr(djq, "_waker", None)


def test_our_payload_is_the_one_django_q2_itself_builds():
    capture = _Capture()
    async_task(queue.EXECUTE, 7, broker=capture, timeout=90, ack_failure=True, task_name="run-7")
    theirs = SignedPackage.loads(capture.pack)
    ours = djq.read_task(queue.package(7, "default", 60).payload)

    assert set(ours) == set(theirs), (
        f"django-q2's async_task now builds a task with keys {sorted(theirs)}; scheduler.djq.make_task builds "
        f"{sorted(ours)}. Update make_task to match."
    )
    for key in ("name", "func", "args", "kwargs", "timeout", "ack_failure"):
        assert ours[key] == theirs[key], f"task[{key!r}]: django-q2 builds {theirs[key]!r}, we build {ours[key]!r}"
    for key in ("id", "started"):
        assert type(ours[key]) is type(theirs[key]), f"task[{key!r}] is now a {type(theirs[key]).__name__}"
    assert len(ours["id"]) == len(theirs["id"]) == Task._meta.get_field("id").max_length, (
        "django-q2's task id no longer fits Task.id exactly (humanhash.uuid or Task.id changed)"
    )


def test_the_payload_is_a_signed_package_and_a_tampered_one_is_refused():
    row = djq.make_task(f"{HERE}.record", (3,), "low", 12, name="n-3")
    assert SignedPackage.loads(row.payload) == djq.read_task(row.payload)
    task = SignedPackage.loads(row.payload)
    assert (task["func"], task["args"], task["kwargs"], task["timeout"], task["name"]) == (
        f"{HERE}.record",
        (3,),
        {},
        12,
        "n-3",
    )
    with pytest.raises(Exception, match="[Ss]ignature"):
        SignedPackage.loads(row.payload[:-2] + "xx")


def test_not_before_must_be_aware():
    naive = timezone.now().replace(tzinfo=None)
    with pytest.raises(ValueError, match="aware"):
        djq.make_task(f"{HERE}.record", (1,), "low", 10, not_before=naive)


# --- pusher, worker and monitor: django-q2's own code on our rows -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_django_q2_pusher_worker_and_monitor_run_our_tasks_and_acknowledge_them():
    djq.bulk_enqueue(
        [
            djq.make_task(f"{HERE}.record", (7,), "low", 10, name="ok-7"),
            djq.make_task(f"{HERE}.explode", (8,), "high", 10, name="boom-8"),
        ]
    )
    broker = get_broker()
    assert isinstance(broker, djq.PriorityORMBroker), f"get_broker() built {type(broker)} (Conf.BROKER_CLASS)"
    task_queue, result_queue = Queue(), Queue()
    stop_after_one_look = Event()
    stop_after_one_look.set()

    pusher(task_queue, stop_after_one_look, broker)  # django-q2's pusher: one dequeue, unpacked onto the queue
    assert not OrmQ.objects.filter(lock__lte=timezone.now()).exists(), "the pusher did not take (lock) both rows"
    task_queue.put("STOP")
    timer = Value("f", -1)
    worker(task_queue, result_queue, timer, Conf.TIMEOUT)  # django-q2's worker, until STOP

    done = _drain(result_queue, 2)
    assert [task["name"] for task in done] == ["boom-8", "ok-7"], "high was not served before low"
    failed, succeeded = done
    assert succeeded["success"] is True, succeeded["result"]
    assert succeeded["result"] == {"args": (7,), "kwargs": {}}, "the worker did not call our function with our args"
    assert succeeded["cluster"] == Conf.CLUSTER_NAME and succeeded["ack_id"], "the pusher no longer adds ack_id"
    assert failed["success"] is False and "planned failure (8,)" in failed["result"]
    assert timer.value == -1, "the worker did not end idle"

    for task in done:
        result_queue.put(task)
    result_queue.put("STOP")
    monitor(result_queue, broker)  # django-q2's monitor: saves failures, acknowledges

    assert not OrmQ.objects.exists(), (
        "the monitor did not acknowledge (delete) both rows: a failed task must be acknowledged too "
        "(task['ack_failure']), or it comes back after Conf.RETRY seconds"
    )
    saved = Task.objects.get()  # save_limit=-1: successes are not saved, failures are
    assert (saved.name, saved.success, saved.func, saved.args) == ("boom-8", False, f"{HERE}.explode", (8,))
    assert saved.stopped and list(djq.tasks_stopped_before(saved.stopped + timedelta(seconds=1))) == [saved]
    assert not djq.tasks_stopped_before(saved.stopped).exists()


@pytest.mark.django_db(transaction=True)
def test_the_worker_kills_a_task_past_its_own_timeout():
    djq.bulk_enqueue([djq.make_task(f"{HERE}.linger", (5,), "default", 1, name="slow")])
    task_queue, result_queue, once = Queue(), Queue(), Event()
    once.set()
    pusher(task_queue, once, djq.PriorityORMBroker())
    task_queue.put("STOP")  # only reached if the task is not killed
    timer = Value("f", -1)
    started = time.monotonic()
    worker(task_queue, result_queue, timer, Conf.TIMEOUT)  # returns after the timeout: that worker is done
    (task,) = _drain(result_queue, 1)
    assert time.monotonic() - started < 4, "task['timeout'] is no longer the worker's limit for this task"
    assert task["success"] is False and "timeout" in task["result"], task["result"]
    assert timer.value == 0, "the worker no longer tells the guard (timer 0) to replace it after a timeout"


def test_the_pusher_takes_what_the_cluster_can_start_high_first(fresh_capacity):
    keys = ["low", "default", "high"] * Conf.BULK
    djq.bulk_enqueue(djq.make_task(f"{HERE}.record", (i,), key, 10) for i, key in enumerate(keys))
    task_queue, once = Queue(), Event()
    once.set()
    pusher(task_queue, once, djq.PriorityORMBroker())
    expected = min(Conf.BULK, Conf.WORKERS + settings.VIGIA_QUEUE_PREFETCH)
    taken = _drain(task_queue, expected)
    assert [task["args"][0] % 3 for task in taken] == [2] * expected, "one look takes what can start, high first"
    assert task_queue.empty()
    assert OrmQ.objects.filter(lock__gt=timezone.now()).count() == expected


@pytest.mark.django_db(transaction=True)  # committed, as a real queueing is: PostgreSQL announces the high task
def test_lower_queues_leave_the_reserved_worker_free_and_a_dead_workers_slot_comes_back(fresh_capacity):
    assert djq.reserved_workers() == {"high": 1}
    broker = djq.PriorityORMBroker()
    djq.bulk_enqueue(djq.make_task(f"{HERE}.record", (i,), "low", 10) for i in range(10))
    taken = broker.dequeue()
    assert len(taken) == Conf.WORKERS - 1, "lower-priority work takes every worker but the reserved one"
    assert broker.dequeue() is None  # nothing more for `low`, although rows wait
    djq.bulk_enqueue([djq.make_task(f"{HERE}.record", (99,), "high", 10)])
    [(high_id, _payload)] = broker.dequeue()  # the reserved worker is there for `high`
    assert djq.read_task(_payload)["args"] == (99,)
    gone = subprocess.Popen(["true"])
    gone.wait()
    djq._on_start(None, task={"ack_id": taken[0][0]})  # a worker started the first low task...
    djq._capacity.mark(taken[0][0], gone.pid)  # ...and died (its pid is gone)
    djq._on_finish(None, task={"ack_id": high_id})  # the high one finished
    again = broker.dequeue()
    assert len(again) == 1 and djq.read_task(again[0][1])["args"][0] < 10  # one low task fits again


# --- the table ------------------------------------------------------------------------------------------


def test_the_ormq_table_has_the_columns_we_write():
    fields = {field.name: field for field in OrmQ._meta.concrete_fields}
    assert set(fields) == {"id", "key", "payload", "lock"}, f"OrmQ's fields are now {sorted(fields)}"
    key, payload, lock = fields["key"], fields["payload"], fields["lock"]
    assert isinstance(key, models.CharField) and not key.null, f"OrmQ.key is now {key!r}"
    assert key.max_length == 100 >= max(map(len, settings.VIGIA_QUEUES)), f"OrmQ.key max_length {key.max_length}"
    assert isinstance(payload, models.TextField) and not payload.null, f"OrmQ.payload is now {payload!r}"
    assert isinstance(lock, models.DateTimeField) and lock.null, f"OrmQ.lock is now {lock!r}"
    assert OrmQ._meta.db_table == "django_q_ormq", f"OrmQ's table is now {OrmQ._meta.db_table}"
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "django_q_ormq")}
    assert columns == {"id", "key", "payload", "lock"}, f"the migrated django_q_ormq table has {sorted(columns)}"


def test_task_rows_keep_what_the_monitor_saves_and_retention_prunes():
    fields = {field.name: field for field in Task._meta.concrete_fields}
    assert isinstance(fields.get("stopped"), models.DateTimeField), "Task.stopped (retention's cutoff) changed"
    assert isinstance(fields.get("success"), models.BooleanField), "Task.success changed"


def test_the_lock_is_what_decides_when_a_row_may_be_taken():
    """django-q2's own ORM broker (and ours): a row whose lock is ahead is not handed out; once its lock
    is past it is, and taking it pushes the lock Conf.RETRY ahead; acknowledge deletes it."""
    not_before = timezone.now() + timedelta(seconds=30)
    (row,) = [djq.make_task(f"{HERE}.record", (1,), "default", 10, not_before=not_before)]
    djq.bulk_enqueue([row])
    assert OrmQ.objects.get().lock == not_before
    theirs, ours = ORM(list_key="default"), djq.PriorityORMBroker()
    assert theirs.dequeue() is None and ours.dequeue() is None, "a row locked in the future was handed out"
    assert (theirs.queue_size(), theirs.lock_size()) == (0, 1)
    assert (ours.queue_size(), ours.lock_size()) == (0, 1)

    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=1))
    before = timezone.now()
    claimed = theirs.dequeue()
    assert [task_id for task_id, _ in claimed] == [OrmQ.objects.get().pk], "django-q2's dequeue changed shape"
    assert djq.read_task(claimed[0][1])["args"] == (1,)
    lock = OrmQ.objects.get().lock
    assert before + timedelta(seconds=Conf.RETRY) <= lock <= timezone.now() + timedelta(seconds=Conf.RETRY), (
        "taking a row no longer locks it Conf.RETRY seconds ahead (ORM.timeout)"
    )
    theirs.acknowledge(claimed[0][0])
    assert not OrmQ.objects.exists(), "ORM.acknowledge no longer deletes the row"


# --- the broker's hooks -------------------------------------------------------------------------------------

# name -> parameter names, on django-q2's base Broker and on its ORM broker: what django-q2 calls (pusher:
# dequeue, fail; monitor: acknowledge; Stat.save: set_stat; Sentinel: ping) and what we override or call.
HOOKS = {
    "dequeue": ["self"],
    "set_stat": ["self", "key", "value", "timeout"],
    "queue_size": ["self"],
    "lock_size": ["self"],
    "purge_queue": ["self"],
    "acknowledge": ["self", "task_id"],
    "fail": ["self", "task_id"],
    "delete": ["self", "task_id"],
    "enqueue": ["self", "task"],
    "ping": ["self"],
    "get_connection": ["list_key"],
    "__init__": ["self", "list_key"],
    "__setstate__": ["self", "state"],
}


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_the_broker_hooks_keep_their_signatures(name):
    for cls in (Broker, ORM):
        assert hasattr(cls, name), f"django-q2's {cls.__name__} no longer has {name}()"
        params = list(inspect.signature(getattr(cls, name)).parameters)
        assert params == HOOKS[name], f"django-q2's {cls.__name__}.{name} now takes {params}, not {HOOKS[name]}"
    if name in vars(djq.PriorityORMBroker):
        ours = list(inspect.signature(getattr(djq.PriorityORMBroker, name)).parameters)
        assert ours == HOOKS[name], f"our override of {name} takes {ours}"


def test_orm_timeout_and_connection_are_what_our_dequeue_calls():
    assert list(inspect.signature(ORM.timeout).parameters) == ["self", "task"], "ORM.timeout(task) changed"
    assert isinstance(inspect.getattr_static(ORM, "get_connection"), staticmethod), "get_connection not static"
    assert ORM.get_connection().model is OrmQ, "ORM.get_connection() no longer returns the OrmQ manager"
    lock = djq.PriorityORMBroker().timeout(None)
    assert abs((lock - timezone.now()).total_seconds() - Conf.RETRY) < 2


def test_the_configured_broker_is_ours_and_survives_pickling(monkeypatch):
    assert Conf.BROKER_CLASS == settings.Q_CLUSTER["broker_class"] == "scheduler.djq.PriorityORMBroker"
    monkeypatch.setenv("VIGIA_CLUSTER_QUEUES", "high,low")
    broker = get_broker()
    assert type(broker) is djq.PriorityORMBroker and broker.queues == ["high", "low"]
    monkeypatch.setenv("VIGIA_CLUSTER_QUEUES", "high")  # a copy re-reads its own process's environment
    copy = pickle.loads(pickle.dumps(broker))
    assert copy.list_key == broker.list_key and copy.queues == ["high"], "Broker.__getstate__/__setstate__ changed"


# --- Conf ------------------------------------------------------------------------------------------------


def test_conf_still_reads_our_q_cluster_settings():
    q = settings.Q_CLUSTER
    read = {
        "BULK": q["bulk"],
        "POLL": q["poll"],
        "RETRY": q["retry"],
        "TIMEOUT": q["timeout"],
        "WORKERS": q["workers"],
        "ORM": q["orm"],
        "SAVE_LIMIT": q["save_limit"],
        "ACK_FAILURES": q["ack_failures"],
        "MAX_ATTEMPTS": q["max_attempts"],
        "GUARD_CYCLE": q["guard_cycle"],
        "RECYCLE": q["recycle"],
        "CLUSTER_NAME": q["name"],
        "PREFIX": q["name"],
        # the pusher's internal queue (prefetch; see scheduler.djq): workers ** 2 unless queue_limit is set
        "QUEUE_LIMIT": q.get("queue_limit", q["workers"] ** 2),
    }
    for attribute, expected in read.items():
        assert hasattr(Conf, attribute), f"django_q.conf.Conf has no {attribute} any more"
        assert getattr(Conf, attribute) == expected, (
            f"Conf.{attribute} is {getattr(Conf, attribute)!r}, not {expected!r} from Q_CLUSTER: the option changed"
        )
    assert Conf.TIMEOUT < Conf.RETRY, "a task could come back (RETRY) while its worker still runs it (TIMEOUT)"
    for status in ("STOPPING", "STOPPED", "STARTING", "IDLE", "WORKING"):
        assert hasattr(Conf, status), f"Conf.{status} (a cluster status) is gone"


def test_the_sentinel_prefetch_queue_holds_queue_limit_tasks():
    _, _, sentinel = _sentinel()
    try:
        assert sentinel.task_queue._maxsize == Conf.QUEUE_LIMIT, "the pusher's internal queue is no longer bounded"
    finally:
        _restore(sentinel)


# --- the cluster Stat and our stat hook ------------------------------------------------------------------


class _Alive:
    pid = 4321

    def is_alive(self):
        return True


_signals = {}


def _sentinel():
    """django-q2's own Sentinel (not started) with our broker: its Stat is the real one."""
    _signals.update({sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)})
    start, stop = Event(), Event()
    sentinel = Sentinel(stop, start, uuid.uuid4(), broker=djq.PriorityORMBroker(), start=False)
    return start, stop, sentinel


def _restore(sentinel):
    for sig, handler in _signals.items():
        signal.signal(sig, handler)
    sentinel.task_queue.close()
    sentinel.result_queue.close()


def test_a_real_cluster_stat_reaches_our_hook_and_writes_the_presence_row(settings):
    settings.VIGIA_HEARTBEAT_SECONDS = 60
    start, stop, sentinel = _sentinel()
    try:
        stat = Stat(sentinel)
        for field in ("cluster_id", "host", "pid", "tob", "status"):
            assert hasattr(stat, field), f"django-q2's Stat has no {field} any more"
        seen = djq.read_stat(SignedPackage.dumps(stat, True))
        assert seen == djq.ClusterStat(
            cluster_id=sentinel.cluster_id.hex,
            host=socket.gethostname(),
            pid=sentinel.parent_pid,
            started=sentinel.tob,
            status=str(Conf.STARTING),
            stopping=False,
        ), "a Stat's fields changed"

        stat.save()  # django-q2 calls broker.set_stat(key, signed stat, 3)
        row = ClusterPresence.objects.get(cluster_id=sentinel.cluster_id.hex)
        assert (row.host, row.queues) == (f"{socket.gethostname()}:{sentinel.parent_pid}", "high,default,low")
        assert row.started_at == sentinel.tob and row.expires_at > timezone.now()
        assert sentinel.broker.get_stat(Stat.get_key(sentinel.cluster_id)), "set_stat no longer stores the stat"

        start.set()
        stop.set()
        sentinel.monitor = sentinel.pusher = _Alive()
        assert sentinel.status() == Conf.STOPPING
        Stat(sentinel).save()  # a stopping cluster ends its row at once, throttle or not
        row.refresh_from_db()
        assert row.expires_at <= timezone.now(), "a stopping cluster's Stat did not end its presence row"
    finally:
        _restore(sentinel)


def test_an_unreadable_stat_is_ignored():
    broker = djq.PriorityORMBroker()
    broker.set_stat("django_q:vigia:cluster:x", "not a signed stat", 3)
    assert djq.read_stat("not a signed stat") is None
    assert not ClusterPresence.objects.exists()
