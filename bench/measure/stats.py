"""Median with min-max, and what a result records beside its figures: the
machine, the load average, the commit."""

import os
import platform
import statistics
import subprocess
import sys


def summarize(values, digits=3):
    """{"median", "min", "max", "n"} of the values that are not None, or None."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits),
            "n": len(values)}


def difference(a, b, digits=3):
    """What separates two summaries (summarize()'s dicts) of the same figure:
    {"median": a's median − b's, "min", "max": the least and the most a run
    of a minus a run of b comes to, "spread": max − min, "within_noise":
    bool}, or None when either is missing.

    The spread is (a.max − b.min) − (a.min − b.max) = a's range + b's range:
    the width of every difference a run of a and a run of b can show. Where
    it is larger than the difference itself, the runs do not say which of the
    two costs more, and the difference is within noise: the one rule for
    every difference between two measured cells (the survey's ladders, make
    demo)."""
    if not a or not b:
        return None
    median = a["median"] - b["median"]
    low, high = a["min"] - b["max"], a["max"] - b["min"]
    return {"median": round(median, digits), "min": round(low, digits),
            "max": round(high, digits), "spread": round(high - low, digits),
            "within_noise": high - low > abs(median)}


def paired_difference(a_runs, b_runs, digits=3):
    """The difference of two cells whose runs were taken in rounds (run i of
    each in round i, one right after the other: survey.py --interleave):
    each round's a − b, then as difference() returns it, {"median", "min",
    "max", "spread", "within_noise", "paired": True}, but over the rounds'
    differences: a slow spell of the machine that lifts both runs of a
    round cancels out instead of widening the spread. Within noise where the
    rounds' differences spread wider than their median, the same rule as
    difference(). None when either is missing or the counts differ."""
    if not a_runs or not b_runs or len(a_runs) != len(b_runs):
        return None
    diffs = sorted(a - b for a, b in zip(a_runs, b_runs))
    median = statistics.median(diffs)
    low, high = diffs[0], diffs[-1]
    return {"median": round(median, digits), "min": round(low, digits),
            "max": round(high, digits), "spread": round(high - low, digits),
            "within_noise": high - low > abs(median), "paired": True}


def load_average():
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine():
    return {"cpu_model": cpu_model(), "cores": os.cpu_count(), "kernel": platform.release(),
            "python": sys.version.split()[0]}


def git_commit(root, short=False, dirty_paths=None):
    """HEAD's hash; "+local changes" when any of dirty_paths (under root) differ."""
    argv = ["git", "-C", str(root), "rev-parse"] + (["--short"] if short else []) + ["HEAD"]
    try:
        commit = subprocess.run(argv, capture_output=True, text=True,
                                timeout=10).stdout.strip() or "unknown"
        if dirty_paths:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--"]
                                   + list(dirty_paths), capture_output=True, text=True,
                                   timeout=10).stdout.strip()
            commit += "+local changes" if dirty else ""
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return commit
