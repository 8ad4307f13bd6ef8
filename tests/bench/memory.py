"""Resident memory of a benchmark's processes, read from /proc (Linux), grouped by role."""

import os
from pathlib import Path


def rss_kb(pid):
    """VmRSS of a process in kB, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children_by_parent():
    """{parent pid: [child pids]} for every process on the machine."""
    tree = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the command name in (…) may hold spaces
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def snapshot(roles):
    """{role: {pid: kB}} for `roles` = {role: [pids]}, leaving out processes that are gone."""
    found = {}
    for role, pids in roles.items():
        sizes = {pid: rss_kb(pid) for pid in pids}
        found[role] = {pid: size for pid, size in sizes.items() if size}
    return found


def growth(start, end):
    """Per role: the largest process at start and at end (MB), the growth between them (%), and how many
    of the role's processes were replaced (recycled workers). `max_pct` is the largest growth of a role's
    largest process or of any one process alive at both moments, so neither a recycled worker nor a
    growing one among several hides a leak."""
    roles, worst = {}, 0.0
    for role, before in start.items():
        after = end.get(role, {})
        if not before or not after:
            continue
        first, last = max(before.values()), max(after.values())
        pct = (last - first) / first * 100
        survivors = [(after[pid] - before[pid]) / before[pid] * 100 for pid in before if pid in after]
        worst = max([worst, pct, *survivors])
        roles[role] = {
            "start_mb": round(first / 1024, 1),
            "end_mb": round(last / 1024, 1),
            "growth_pct": round(pct, 1),
            "processes": len(after),
            "replaced": len(set(before) - set(after)),
        }
    return roles, round(worst, 1)


def roles(scheduler, cluster, web, workers, helpers=None):
    """{role: [pids]} of a scheduler, a django-q2 cluster (main → sentinel → workers, monitor and pusher)
    and a gunicorn (master → workers), from their top pids. `workers` are pids known to have run tasks;
    `helpers` the monitor and pusher found last time (they live as long as the cluster, while workers are
    recycled, so a fresh worker that has not run a task yet is not taken for one of them)."""
    tree = children_by_parent()
    sentinels = tree.get(cluster, [])
    below = [pid for sentinel in sentinels for pid in tree.get(sentinel, [])]
    if helpers is None:
        helpers = [pid for pid in below if pid not in workers]
    return {
        "scheduler": [scheduler],
        "qcluster main": [cluster],
        "qcluster sentinel": sentinels,
        "qcluster workers": [pid for pid in below if pid not in helpers],
        "qcluster monitor+pusher": [pid for pid in below if pid in helpers],
        "web master": [web],
        "web workers": tree.get(web, []),
    }


def cpu_seconds(roles):
    """{role: {pid: CPU seconds used so far (user + system)}} of every pid in `roles`."""
    tick, found = os.sysconf("SC_CLK_TCK"), {}
    for role, pids in roles.items():
        found[role] = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            found[role][pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15)
    return found


def cpu_used(start, end):
    """{role: CPU seconds} between two cpu_seconds() readings (a process started in between counts in
    full; one that ended in between is missed)."""
    return {
        role: round(sum(used - start.get(role, {}).get(pid, 0.0) for pid, used in pids.items()), 1)
        for role, pids in end.items()
    }
