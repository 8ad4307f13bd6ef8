"""Counting a process's database queries for `bench idle` (active only when VIGIA_COUNT_QUERIES_DIR is set).

Every connection gets an execute wrapper that counts statements; a daemon thread writes the count of this
process to `<dir>/<pid>` every second, so a benchmark can add up every process's queries (forked workers
included: the count restarts in each child)."""

import os
import threading
import time
from pathlib import Path

_count = {"pid": None, "n": 0}
_lock = threading.Lock()


def install(directory):
    from django.db.backends.signals import connection_created

    folder = Path(directory)

    def counted(execute, sql, params, many, context):
        with _lock:
            if _count["pid"] != os.getpid():  # a forked child: its own count and its own writer thread
                _count["pid"], _count["n"] = os.getpid(), 0
                threading.Thread(target=_write, args=(folder,), daemon=True).start()
            _count["n"] += 1
        return execute(sql, params, many, context)

    def on_connection(sender, connection, **kwargs):
        if counted not in connection.execute_wrappers:
            connection.execute_wrappers.append(counted)

    connection_created.connect(on_connection, weak=False)


def _write(folder):
    pid = os.getpid()
    while True:
        time.sleep(1)
        (folder / str(pid)).write_text(str(_count["n"]))


def total(directory):
    """The sum of the counts every process wrote."""
    return sum(int(path.read_text() or 0) for path in Path(directory).iterdir() if path.name.isdigit())
