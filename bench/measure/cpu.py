"""CPU time of a process tree, from /proc, two ways.

  * tree_cpu_seconds(pid): user+sys of a process and all its live descendants
    (threads included: /proc/PID/stat sums them), plus the children it has
    reaped (cutime/cstime count only waited-for children; live ones are summed
    one by one). 10 ms clock ticks.
  * tree_runtime_seconds(pid): the same from every thread's
    /proc/*/task/*/schedstat, in nanoseconds, user and sys together. Threads
    and children that exited take their time with them.

snapshot(pid) takes both; CpuSnapshot.__sub__ gives the delta.
"""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read_stat(pid):
    """(ppid, utime, stime, cutime, cstime) in ticks, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2:].split()
    return int(fields[1]), int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14])


def descendants(pid):
    """PIDs of every live descendant of pid."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _read_stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
    out = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.append(child)
            todo.append(child)
    return out


def tree_cpu_seconds(pid, children=None):
    """(user, sys) seconds of pid's tree: itself, its live descendants (or
    the `children` given), and the reaped children accounted to it
    (cutime/cstime)."""
    root = _read_stat(pid)
    if root is None:
        raise RuntimeError(f"process {pid} is gone")
    user, system = root[1] + root[3], root[2] + root[4]
    for child in descendants(pid) if children is None else children:
        st = _read_stat(child)
        if st is not None:
            # A child's cutime/cstime is already in its parent's once reaped,
            # and a live child's own reaped children are counted here.
            user += st[1] + st[3]
            system += st[2] + st[4]
    return user / CLK_TCK, system / CLK_TCK


def tree_runtime_seconds(pid, children=None):
    """CPU time of pid's live tree from /proc/*/task/*/schedstat (nanoseconds,
    user+sys together): tree_cpu_seconds without its 10 ms ticks."""
    total = 0
    for p in [pid] + (descendants(pid) if children is None else children):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


class CpuSnapshot:
    """A tree's CPU at one moment: user_s and sys_s (ticks), runtime_s (schedstat)."""

    def __init__(self, user_s, sys_s, runtime_s):
        self.user_s = user_s
        self.sys_s = sys_s
        self.runtime_s = runtime_s

    def __sub__(self, other):
        return CpuSnapshot(self.user_s - other.user_s, self.sys_s - other.sys_s,
                           self.runtime_s - other.runtime_s)


def snapshot(pid):
    """Both figures of pid's tree, from one walk of /proc for its descendants."""
    children = descendants(pid)
    user, system = tree_cpu_seconds(pid, children)
    return CpuSnapshot(user, system, tree_runtime_seconds(pid, children))
