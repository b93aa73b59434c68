"""The one warm-up rule: run slices of requests until the last two slices' CPU
per request are within a tolerance (5%) of each other, up to a cap.

A JIT (PyPy's) keeps compiling for a while after a server starts; a fixed
warm-up count is either too short for a slow app or wasted on a fast one.
CPython settles in the first slices, so the rule costs it two or three.
"""

DEFAULT_TOLERANCE = 0.05
DEFAULT_MIN_SLICES = 2
DEFAULT_MAX_SLICES = 12


def settled(a, b, tolerance=DEFAULT_TOLERANCE):
    """Whether two CPU-per-request figures agree within tolerance (of the smaller)."""
    if a is None or b is None:
        return False
    low = min(a, b)
    return low > 0 and abs(a - b) <= tolerance * low


def warm_up(run_slice, tolerance=DEFAULT_TOLERANCE, min_slices=DEFAULT_MIN_SLICES,
            max_slices=DEFAULT_MAX_SLICES):
    """Calls run_slice() (which runs one slice and returns its CPU µs per
    request, or a dict with "cpu_us" and any other figures) until the last
    two agree within tolerance, at least min_slices and at most max_slices
    times. Returns {"slices": [...], "settled": bool, "tolerance": t}."""
    slices = []
    for _ in range(max_slices):
        figure = run_slice()
        slices.append(figure if isinstance(figure, dict) else {"cpu_us": figure})
        if len(slices) >= max(min_slices, 2) and settled(slices[-2]["cpu_us"],
                                                         slices[-1]["cpu_us"], tolerance):
            return {"slices": slices, "settled": True, "tolerance": tolerance}
    return {"slices": slices, "settled": False, "tolerance": tolerance}
