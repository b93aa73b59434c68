"""SURVEY.md, the console tables and the charts, from survey.json's data.

Everything here reads the measured cells only: each verdict on a 2013 claim is
computed from the numbers with the threshold printed beside it, so a rerun on
another machine rewrites the text to match its own figures.
"""

import statistics
from pathlib import Path

import measure
import servers

README = Path(__file__).resolve().parents[2] / "README.md"

RT = servers.RUNTIME_LABELS
WORKLOAD_LABELS = {
    "close-chrome": "new conn., chrome-2013",
    "close-ab": "new conn., ab",
    "keepalive-chrome": "keep-alive, chrome-2013",
    "keepalive-ab": "keep-alive, ab",
}
SURVEY_ORDER = ["twisted", "cyclone", "tornado", "gunicorn-sync", "gevent", "eventlet"]
# The servers whose request handling is Python code (the survey's subject).
PURE_PYTHON = ["wsgiref", "gunicorn-sync", "gunicorn-gthread", "waitress", "tornado", "twisted",
               "gevent", "eventlet", "cheroot", "ref-python", "uvicorn-asyncio-h11", "hypercorn"]
# Today's asyncio servers (issue 14), set beside the survey's in claim 3.
TODAY = [servers.uvicorn_key(loop, http) for loop, http in servers.UVICORN] + ["hypercorn"]
LADDER_ROWS = [
    ("1", "ref-python", "Python loop, Python parser (anvil.refserver --parser python)"),
    ("2", "ref-fast", "Python loop, C++ fast parser (anvil.refserver --parser fast)"),
    ("2", "ref-llhttp", "Python loop, C++ llhttp parser (anvil.refserver --parser llhttp)"),
    ("3", "anvil-fast", "C++ loop, fast parser, Python app (python -m anvil)"),
    ("3", "anvil-llhttp", "C++ loop, llhttp parser, Python app (python -m anvil)"),
    ("4", "anvil-pynative", "C++ loop, native hello (python -m anvil --native hello)"),
]
STAGES = ["read", "parse", "environ", "app", "write"]
NOISE_RULE = ("A difference is printed only where it is larger than its runs' spread (the "
              "range of one cell's runs plus the other's: every difference a run of each can "
              "show); otherwise it reads \"within noise\" with that spread.")
NOISE_RULE_PAIRED = ("The runs were taken in rounds, one run of each cell per round: a "
                     "difference is each round's difference, median (min–max) over the rounds, "
                     "printed only where it is larger than the spread of those differences; "
                     "otherwise it reads \"within noise\" with that spread. A slow spell of the "
                     "machine lifts a whole round and cancels out of its differences; it still "
                     "moves each cell's own figures, so compare runs by their differences.")


def noise_rule(data):
    """The rule the ladder's differences were judged by (interleaved runs: paired)."""
    return NOISE_RULE_PAIRED if data.get("interleaved") else NOISE_RULE


class Cells:
    def __init__(self, data):
        self.data = data
        self.by = {(c["server"], c["runtime"], c["workload"]): c for c in data["cells"]}

    def get(self, server, runtime, workload):
        return self.by.get((server, runtime, workload))

    def value(self, server, runtime, workload, metric="requests_per_s", stat="median"):
        s = self.summary(server, runtime, workload, metric)
        return s[stat] if s else None

    def summary(self, server, runtime, workload, metric="cpu_per_request_us"):
        """The cell's summary of metric (median, min, max, n), or None."""
        c = self.get(server, runtime, workload)
        if not c or c["status"] not in ("ok", "errors"):
            return None
        return (c.get("summary") or {}).get(metric)

    def runs(self, server, runtime, workload, metric="cpu_per_request_us"):
        """The cell's runs' values of metric, in the order taken, or None."""
        if self.summary(server, runtime, workload, metric) is None:
            return None
        return [r.get(metric) for r in self.get(server, runtime, workload)["runs"]]

    def difference(self, a, b, metric="cpu_per_request_us"):
        """Cell a's figure minus cell b's ((server, runtime, workload) each):
        round by round where the runs were taken in rounds
        (measure.paired_difference), else from the two summaries
        (measure.difference); within noise by the same rule either way."""
        if self.data.get("interleaved"):
            return measure.paired_difference(self.runs(*a, metric), self.runs(*b, metric))
        return measure.difference(self.summary(*a, metric), self.summary(*b, metric))

    def runtimes_of(self, key):
        s = servers.BY_KEY[key]
        return [r for r in s.runtimes if r == "native" or r in self.data["parameters"]["runtimes"]]

    def measured_servers(self):
        keys = {c["server"] for c in self.data["cells"]}
        return [s.key for s in servers.SERVERS if s.key in keys]


def _fmt(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def cell_text(cells, server, runtime, workload, metric="requests_per_s", digits=0):
    c = cells.get(server, runtime, workload)
    if c is None:
        return "—"
    if c["status"] == "not available":
        return "n/a"
    if c["status"] == "failed":
        return "failed"
    s = (c.get("summary") or {}).get(metric)
    if not s:
        return "—"
    text = f"{_fmt(s['median'], digits)} ({_fmt(s['min'], digits)}–{_fmt(s['max'], digits)})"
    if c["status"] == "errors":
        text += f" ⚠{c['summary']['errors']} err"
    return text


# --- the tables -------------------------------------------------------------------

def survey_table(cells, workload):
    """The survey's own form: server x runtime, requests/s, beside the 2013 figures."""
    lines = ["| server | 2013 CPython 2.7 | 2013 PyPy 2.0 | CPython 3.11 | PyPy 3.9 | no Python |",
             "|---|--:|--:|--:|--:|--:|"]
    keys = cells.measured_servers()
    order = [k for k in SURVEY_ORDER if k in keys or k in servers.SURVEY_2013]
    order += [k for k in keys if k not in order]
    for key in order:
        s = servers.BY_KEY[key]
        old = servers.SURVEY_2013.get(key)
        cols = [_fmt(old[0]) if old else "", _fmt(old[1]) if old else ""]
        for rt in ("cpython", "pypy", "native"):
            cols.append(cell_text(cells, key, rt, workload) if rt in s.runtimes else "")
        lines.append(f"| {s.label} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def cpu_table(cells, metric="cpu_per_request_us", digits=1):
    wl = cells.data["parameters"]["workloads"]
    lines = ["| server | runtime | " + " | ".join(WORKLOAD_LABELS[w] for w in wl) + " |",
             "|---|---|" + "--:|" * len(wl)]
    for key in cells.measured_servers():
        for rt in cells.runtimes_of(key):
            cols = [cell_text(cells, key, rt, w, metric, digits) for w in wl]
            lines.append(f"| {servers.BY_KEY[key].label} | {RT[rt]} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def latency_table(cells):
    wl = cells.data["parameters"]["workloads"]
    lines = ["| server | runtime | " + " | ".join(f"{WORKLOAD_LABELS[w]}: p50 / p99 (ms)" for w in wl)
             + " | errors |", "|---|---|" + "--:|" * len(wl) + "--:|"]
    for key in cells.measured_servers():
        for rt in cells.runtimes_of(key):
            cols, errors = [], 0
            for w in wl:
                p50 = cells.value(key, rt, w, "p50_us")
                p99 = cells.value(key, rt, w, "p99_us")
                c = cells.get(key, rt, w)
                if c and c.get("summary"):
                    errors += c["summary"]["errors"]
                cols.append("—" if p50 is None else f"{p50 / 1000:.2f} / {p99 / 1000:.2f}")
            lines.append(f"| {servers.BY_KEY[key].label} | {RT[rt]} | " + " | ".join(cols)
                         + f" | {errors} |")
    return "\n".join(lines)


def ladder_table(cells, metric="cpu_per_request_us", digits=1):
    wl = cells.data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in cells.data["parameters"]["runtimes"]]
    head = [f"{RT[r]}: {WORKLOAD_LABELS[w]}" for r in rts for w in wl]
    lines = ["| step | server | " + " | ".join(head) + " |", "|---|---|" + "--:|" * len(head)]
    for step, key, desc in LADDER_ROWS:
        cols = [cell_text(cells, key, r, w, metric, digits) for r in rts for w in wl]
        lines.append(f"| {step} | {desc} | " + " | ".join(cols) + " |")
    cols = [cell_text(cells, "anvil-native", "native", w, metric, digits) for r in rts for w in wl]
    lines.append("| 4 | the same, the C++ binary (anvil-native hello, no Python) | "
                 + " | ".join(cols) + " |")
    return "\n".join(lines)


def ladder_steps(cells, runtime, workload):
    """CPU/request of each ladder step (summaries: median, min, max) and the
    differences between them (measure.difference(): within noise where the
    runs' spread is larger than the difference); the last entry is step 4's
    own summary, not a difference."""
    v = {k: cells.summary(k, runtime, workload)
         for k in ("ref-python", "ref-fast", "anvil-fast", "anvil-pynative")}

    def diff(a, b):
        return cells.difference((a, runtime, workload), (b, runtime, workload))

    return v, {
        "parser moved into C++ (1 − 2)": diff("ref-python", "ref-fast"),
        "loop moved into C++ (2 − 3)": diff("ref-fast", "anvil-fast"),
        "the app call through WSGI (3 − 4)": diff("anvil-fast", "anvil-pynative"),
        "what is left: kernel, C++ loop, parse (4)": v["anvil-pynative"],
    }


def _diff(a, b):
    return None if a is None or b is None else a - b


def difference_text(d, digits=1, unit=""):
    """A difference of measure.difference(), or a summary (median (min–max)):
    the figure, or "within noise (spread X µs)" where the runs' spread is
    larger than it. Every ladder difference printed goes through here."""
    if d is None:
        return "—"
    if "within_noise" not in d:
        return f"{_fmt(d['median'], digits)} ({_fmt(d['min'], digits)}–{_fmt(d['max'], digits)})" \
            + unit
    if d["within_noise"]:
        return f"within noise (spread {d['spread']:.{digits}f} µs)"
    return f"{d['median']:.{digits}f}{unit}"


def ladder_diff_table(cells):
    wl = cells.data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in cells.data["parameters"]["runtimes"]]
    head = [f"{RT[r]}: {WORKLOAD_LABELS[w]}" for r in rts for w in wl]
    lines = ["| CPU µs per request | " + " | ".join(head) + " |", "|---|" + "--:|" * len(head)]
    rows = {}
    for r in rts:
        for w in wl:
            for name, d in ladder_steps(cells, r, w)[1].items():
                rows.setdefault(name, []).append(difference_text(d))
    for name, cols in rows.items():
        lines.append(f"| {name} | " + " | ".join(cols) + " |")
    # chrome-2013 against ab: the header-parsing cost at each step.
    for mode in ("close", "keepalive"):
        if f"{mode}-chrome" in wl and f"{mode}-ab" in wl:
            for _step, key, desc in LADDER_ROWS[:1] + LADDER_ROWS[1:2] + LADDER_ROWS[3:4]:
                cols = []
                for r in rts:
                    d = cells.difference((key, r, f"{mode}-chrome"), (key, r, f"{mode}-ab"))
                    for w in wl:
                        cols.append(difference_text(d) if w.startswith(mode)
                                    and w.endswith("chrome") else "")
                lines.append(f"| chrome-2013 − ab, {key} | " + " | ".join(cols) + " |")
    lines += ["", noise_rule(cells.data)]
    return "\n".join(lines)


def stats_table(cells):
    """anvil's --stats: mean wall time per request in each stage (µs), beside
    the process CPU per request."""
    lines = ["| server | runtime | workload | " + " | ".join(STAGES)
             + " | sum of stages | CPU/request |", "|---|---|---|" + "--:|" * (len(STAGES) + 2)]
    for c in cells.data["cells"]:
        st = c.get("stats")
        if not st:
            continue
        total = sum(st.get(s, 0.0) for s in STAGES)
        cpu = cells.value(c["server"], c["runtime"], c["workload"], "cpu_per_request_us")
        lines.append(f"| {c['label']} | {RT[c['runtime']]} | {WORKLOAD_LABELS[c['workload']]} | "
                     + " | ".join(f"{st.get(s, 0.0):.2f}" for s in STAGES)
                     + f" | {total:.2f} | {_fmt(cpu, 1)} |")
    return "\n".join(lines)


def failures(cells):
    out = []
    for c in cells.data["cells"]:
        if c["status"] in ("failed", "errors", "not available"):
            what = f"{c['label']} on {RT[c['runtime']]}, {WORKLOAD_LABELS[c['workload']]}"
            if c["status"] == "errors":
                kinds = {}
                for r in c["runs"]:
                    for k, v in (r.get("error_kinds") or {}).items():
                        kinds[k] = kinds.get(k, 0) + v
                out.append(f"- {what}: {c['summary']['errors']} errors in "
                           f"{c['summary']['requests']} requests ({kinds})")
            else:
                tail = [ln for ln in (c.get("log_tail") or "").splitlines() if ln.strip()]
                last = f" (its log: `{tail[-1].strip()[:160]}`)" if tail else ""
                out.append(f"- {what}: **{c['status']}**: {c['error']}{last}")
    return "\n".join(dict.fromkeys(out)) or "none"


def counts_text(cells):
    """How each workload was sized: the survey's counts, time-capped servers,
    reduced workloads; from the cells' own records."""
    p = cells.data["parameters"]
    full = p.get("full_size") or []
    out = []
    for w in p["workloads"]:
        ran = [c for c in cells.data["cells"] if c["workload"] == w and c.get("counted_per_run")]
        if not ran:
            continue
        capped = sorted((c for c in ran if c.get("capped")), key=lambda c: c["counted_per_run"])
        n = sorted(c["counted_per_run"] for c in ran)
        if w in full:
            text = (f"**{WORKLOAD_LABELS[w]}: at the survey's size.** {len(ran) - len(capped)} "
                    f"cells got {p['runs']} runs of {p['counted_per_run']:,} counted requests "
                    f"after a warm-up of at least {p['warmup']:,} (every server answering at "
                    f"least {p.get('full_rate', 2000):,.0f} requests/s)")
            if capped:
                text += ("; time-capped (slower: each run and warm-up slice lasted what the "
                         "survey's counts take at that rate): " + "; ".join(
                             f"{c['label']} on {RT[c['runtime']]} {c['counted_per_run']:,} "
                             "per run" for c in capped))
        elif p.get("cell_seconds"):
            text = (f"**{WORKLOAD_LABELS[w]}: reduced** to about {p['cell_seconds']:g} s per "
                    f"cell (each warm-up slice and run 1/{p['runs'] + 2} of it): counted "
                    f"requests per run, median {statistics.median(n):,.0f}, from {n[0]:,} to "
                    f"{n[-1]:,}")
        else:
            text = (f"**{WORKLOAD_LABELS[w]}: fixed counts**: {p['runs']} runs of "
                    f"{p['counted_per_run']:,} counted requests after a warm-up of at least "
                    f"{p['warmup']:,}" + ("" if data_is_full(cells) else
                                          " (far below the survey's 90,000 after 30,000)"))
        out.append(f"- {text}.")
    return "\n".join(out)


def data_is_full(cells):
    return cells.data["matrix"] == "full"


def warmup_rule_text(cells):
    rule = cells.data["parameters"].get("warmup_rule") or {}
    p = cells.data["parameters"]
    if not rule:
        return ""
    pypy_warmup = p["warmup"] if p.get("pypy_warmup") is None else p["pypy_warmup"]
    return (f"The warm-up rule (`bench/measure/warmup.py`, the one every benchmark here "
            f"uses): requests in slices, not counted, until the server's CPU per request in "
            f"the last two slices agrees within {rule['tolerance']:.0%}; at least "
            f"{rule['min_slices']} slices, at most {rule['max_slices']}. A slice is half of "
            f"the least warm-up ({p['warmup']:,} requests"
            + (f"; PyPy's: {p['pypy_warmup']:,}" if p.get("pypy_warmup") is not None else "")
            + "), or what the server answers in its "
            "share of the time where the cell is sized by time; a cell sized by time starts "
            f"with a probe of {p.get('probe', 500)} requests that gives its rate. CPython "
            "settles in the first slices; PyPy's JIT compiles for a while. A cell marked "
            "*not settled* reached the cap with its CPU per request still moving: its figures "
            "are not warm." + (
                f" Here a slice is only {pypy_warmup // 2:,} requests: two slices of a JIT "
                "that is still compiling can agree by chance, so PyPy's figures in this run are "
                "not warm even where settled (the full matrix's slices are 15,000)."
                if pypy_warmup // 2 < SMALL_SLICE else ""))


SMALL_SLICE = 5000  # below this, PyPy's slices can agree by chance before the JIT settles


def warmup_of(cell):
    """(slices, requests, first slice µs, last slice µs, settled) or None."""
    wu = cell.get("warmup")
    if not isinstance(wu, dict) or not wu.get("slices"):
        return None
    sl = wu["slices"]
    return len(sl), wu.get("requests", 0), sl[0].get("cpu_us"), sl[-1].get("cpu_us"), \
        wu.get("settled", False)


def warmup_table(cells, runtimes=("pypy",)):
    """Each cell's warm-up: slices, requests, CPU per request of its first
    (cold) and last slice, settled or not."""
    lines = ["| server | runtime | workload | slices | warm-up requests | first slice µs/req "
             "| last slice µs/req | settled |", "|---|---|---|--:|--:|--:|--:|---|"]
    rows = 0
    for c in cells.data["cells"]:
        w = warmup_of(c)
        if not w or c["runtime"] not in runtimes:
            continue
        slices, n, first, last, ok = w
        rows += 1
        lines.append(f"| {c['label']} | {RT[c['runtime']]} | {WORKLOAD_LABELS[c['workload']]} | "
                     f"{slices} | {n:,} | {_fmt(first, 1)} | {_fmt(last, 1)} | "
                     f"{'yes' if ok else '**no**'} |")
    return "\n".join(lines) if rows else ""


def warmup_summary(cells):
    """One line: slices per runtime (median, max), cells not settled."""
    out = []
    for rt in ("cpython", "pypy", "native"):
        ws = [warmup_of(c) for c in cells.data["cells"] if c["runtime"] == rt]
        ws = [w for w in ws if w]
        if not ws:
            continue
        slices = [w[0] for w in ws]
        unsettled = sum(1 for w in ws if not w[4])
        out.append(f"{RT[rt]}: {statistics.median(slices):g} slices a cell (median; at most "
                   f"{max(slices)}), {unsettled} of {len(ws)} cells not settled")
    return "; ".join(out)


def noise_text(cells):
    """How far apart the runs of one cell were: the honest error bar of this run."""
    spread = []
    for c in cells.data["cells"]:
        s = (c.get("summary") or {}).get("cpu_per_request_us")
        if s and s["min"]:
            spread.append(s["max"] / s["min"])
    if not spread:
        return ""
    spread.sort()
    q90 = spread[int(0.9 * (len(spread) - 1))]
    m = cells.data["machine"]
    end = cells.data.get("load_average_at_end")
    load = f"{m['load_average_at_start'][0]:.1f} at the start" + (
        f", {end[0]:.1f} at the end" if end else "")
    return (f"Noise: the slowest of a cell's runs took a median {statistics.median(spread):.2f}x "
            f"the CPU per request of its fastest (90th percentile {q90:.2f}x). The machine has 2 "
            f"cores and was shared with other jobs while this ran (load average {load}): read "
            "differences smaller than that spread as no difference.")


def known_notes(cells):
    keys = cells.measured_servers()
    notes = [f"- **{servers.BY_KEY[k].label}**: {servers.KNOWN[k]}"
             for k in keys if k in servers.KNOWN]
    if any(servers.BY_KEY[k].group == "uvicorn" for k in keys):
        notes.append(f"- **uvicorn**: {servers.KNOWN['uvicorn']}")
    return "\n".join(notes)


# --- the second ladder: uvicorn's loop x parser ----------------------------------------

PARSER_SHARE = 0.10   # claim 1's threshold: the parser's share of the request
LOOP_RATIO = 1.5      # claim 4's threshold: the Python loop's CPU over the C loop's


def uv(cells, loop, http, runtime, workload, metric="cpu_per_request_us"):
    return cells.value(servers.uvicorn_key(loop, http), runtime, workload, metric)


def uvicorn_measured(cells):
    return any(c["group"] == "uvicorn" for c in cells.data["cells"])


def _move(a, b):
    """(a − b, a / b): what moving a stage into C saves, in µs and as a ratio."""
    if a is None or b is None or not b:
        return None
    return a - b, a / b


def _move_text(m):
    return "—" if m is None else f"{m[0]:+.1f} µs ({m[1]:.2f}x)"


def move_text(cells, a, b, runtime, workload):
    """What moving a stage into C saves, server a's cell against b's:
    _move_text(), or "within noise" where the runs' spread is larger
    (difference_text(), the rule of every ladder difference)."""
    sa, sb = cells.summary(a, runtime, workload), cells.summary(b, runtime, workload)
    d = measure.difference(sa, sb)
    if d and d["within_noise"]:
        return difference_text(d)
    return _move_text(_move(sa and sa["median"], sb and sb["median"]))


# uvicorn's moves, (label, server with the stage in Python, server with it in C):
# the parser on each loop, the loop with each parser.
UVICORN_PARSER_MOVES = [(loop, servers.uvicorn_key(loop, "h11"),
                         servers.uvicorn_key(loop, "httptools")) for loop in ("asyncio", "uvloop")]
UVICORN_LOOP_MOVES = [(http, servers.uvicorn_key("asyncio", http),
                       servers.uvicorn_key("uvloop", http)) for http in ("h11", "httptools")]


def uvicorn_table(cells, runtime, workload):
    """The 2x2: loop (rows) x parser (columns), CPU µs per request (req/s),
    with what moving each stage into C saves at the margins."""
    def cell(loop, http):
        key = servers.uvicorn_key(loop, http)
        c = cells.get(key, runtime, workload)
        if c and c["status"] == "not available":
            return "n/a"
        cpu = uv(cells, loop, http, runtime, workload)
        rps = uv(cells, loop, http, runtime, workload, "requests_per_s")
        if cpu is None:
            return c["status"] if c else "—"
        return f"{cpu:.1f} ({rps:,.0f}/s)"

    lines = ["| uvicorn: CPU µs/request (req/s) | h11 (Python parser) | httptools (C parser) "
             "| parser into C (h11 − httptools) |", "|---|--:|--:|--:|"]
    for loop, a, b in UVICORN_PARSER_MOVES:
        lines.append(f"| {servers.UVICORN_LABELS[loop]} | {cell(loop, 'h11')} | "
                     f"{cell(loop, 'httptools')} | {move_text(cells, a, b, runtime, workload)} |")
    moves = [move_text(cells, a, b, runtime, workload) for _, a, b in UVICORN_LOOP_MOVES]
    both = move_text(cells, servers.uvicorn_key("asyncio", "h11"),
                     servers.uvicorn_key("uvloop", "httptools"), runtime, workload)
    lines.append(f"| loop into C (asyncio − uvloop) | {moves[0]} | {moves[1]} | both: {both} |")
    return "\n".join(lines)


def anvil_moves(cells, runtime, workload):
    """anvil's ladder: (parser into C++: step 1 − 2, loop into C++: step 2 − 3)."""
    v = {k: cells.value(k, runtime, workload, "cpu_per_request_us")
         for k in ("ref-python", "ref-fast", "anvil-fast")}
    return _move(v["ref-python"], v["ref-fast"]), _move(v["ref-fast"], v["anvil-fast"])


def uvicorn_moves(cells, runtime, workload):
    """uvicorn's: (parser into C on each loop, loop into C with each parser),
    each a list of (label, move) where both cells ran."""
    def moves(pairs):
        out = [(k, _move(cells.value(a, runtime, workload, "cpu_per_request_us"),
                         cells.value(b, runtime, workload, "cpu_per_request_us")))
               for k, a, b in pairs]
        return [(k, m) for k, m in out if m]

    return moves(UVICORN_PARSER_MOVES), moves(UVICORN_LOOP_MOVES)


def parser_share(m):
    """(a − b) / a for a move (a − b, a / b): the share of the request the
    Python parser took."""
    return 1 - 1 / m[1]


def _moves_text(cells, pairs, runtime, workload):
    """move_text() of each of uvicorn's pairs whose two cells were measured."""
    return "<br>".join(f"on {k}: {move_text(cells, a, b, runtime, workload)}"
                       for k, a, b in pairs if cells.summary(a, runtime, workload)
                       and cells.summary(b, runtime, workload)) or "n/a"


def ladders_table(cells):
    """Both ladders side by side, per runtime and workload: what moving the
    parser and the loop into C saves in each."""
    wl = cells.data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in cells.data["parameters"]["runtimes"]]
    lines = ["| runtime, workload | parser into C: anvil (step 1 − 2) | parser into C: uvicorn "
             "(h11 − httptools) | loop into C: anvil (step 2 − 3) | loop into C: uvicorn "
             "(asyncio − uvloop) |", "|---|--:|--:|--:|--:|"]
    for rt in rts:
        for w in wl:
            lines.append(f"| {RT[rt]}, {WORKLOAD_LABELS[w]} | "
                         f"{move_text(cells, 'ref-python', 'ref-fast', rt, w)} | "
                         f"{_moves_text(cells, UVICORN_PARSER_MOVES, rt, w)} | "
                         f"{move_text(cells, 'ref-fast', 'anvil-fast', rt, w)} | "
                         f"{_moves_text(cells, UVICORN_LOOP_MOVES, rt, w)} |")
    return "\n".join(lines)


def adapter_cost(cells, runtime, workload):
    """(uvicorn with uvloop + httptools and the WSGI app, the same with the
    app as ASGI): what uvicorn's WSGI adapter costs, or None."""
    wsgi = uv(cells, "uvloop", "httptools", runtime, workload)
    asgi = cells.value("uvicorn-asgi", runtime, workload, "cpu_per_request_us")
    return (wsgi, asgi) if wsgi and asgi else None


def ladders_agree(cells):
    """Per runtime and workload where both ladders have the move: whether
    they reach the same verdict on the claims' thresholds (the parser's share
    ≥ PARSER_SHARE, the loop's ratio ≥ LOOP_RATIO), with the figures that say
    why where they do not (or where the same verdict hides very different
    sizes). Returns (agreements, disagreements) as text lines."""
    wl = cells.data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in cells.data["parameters"]["runtimes"]]
    agree, differ = [], []
    for rt in rts:
        for w in wl:
            where = f"{RT[rt]}, {WORKLOAD_LABELS[w]}"
            ap, al = anvil_moves(cells, rt, w)
            up, ul = uvicorn_moves(cells, rt, w)
            adapter = adapter_cost(cells, rt, w)
            if ap and up:
                a = {"saved": ap[0], "metric": parser_share(ap),
                     "base": cells.value("ref-python", rt, w, "cpu_per_request_us")}
                u = {"saved": statistics.median(m[0] for _, m in up),
                     "metric": statistics.median(parser_share(m) for _, m in up),
                     "base": uv(cells, "asyncio", "h11", rt, w)}
                line = (f"{where}, parser: anvil's Python parser {a['metric']:.0%} of its "
                        f"request ({ap[0]:+.1f} µs), uvicorn's h11 {u['metric']:.0%} "
                        f"({_us_list(up)})")
                _judge(line, "parser", a, u, PARSER_SHARE, adapter, agree, differ)
            if al and ul:
                a = {"saved": al[0], "metric": al[1],
                     "base": cells.value("ref-fast", rt, w, "cpu_per_request_us")}
                u = {"saved": statistics.median(m[0] for _, m in ul),
                     "metric": statistics.median(m[1] for _, m in ul),
                     "base": uv(cells, "asyncio", "httptools", rt, w)}
                line = (f"{where}, loop: anvil's Python loop {al[1]:.2f}x its C++ loop "
                        f"({al[0]:+.1f} µs), uvicorn's asyncio {u['metric']:.2f}x uvloop "
                        f"({_us_list(ul)})")
                _judge(line, "loop", a, u, LOOP_RATIO, adapter, agree, differ)
    return agree, differ


def _judge(line, stage, a, u, threshold, adapter, agree, differ):
    """Files the line under agree or differ; the reason goes with a
    disagreement, and with an agreement whose µs saved differ by more than
    1.5x (the same verdict from very different costs)."""
    why = _why(stage, a, u, adapter)
    if (a["metric"] >= threshold) == (u["metric"] >= threshold):
        small, big = sorted((a["saved"], u["saved"]))
        if small > 0 and big > 1.5 * small:
            line += f"; the same verdict from different sizes: {why}"
        agree.append(line)
    else:
        differ.append(f"{line}: {why}")


def _us_list(ms):
    return ", ".join(f"{m[0]:+.1f} µs on {k}" for k, m in ms)


def _why(stage, a, u, adapter=None):
    """Why the two ladders' figures for one move differ. a and u (anvil's,
    uvicorn's): saved (µs the move saves), metric (the share or ratio the
    verdict reads), base (the request with that stage in Python). The ratio
    of a move grows with the µs it saves and shrinks with the cost of the
    rest of the request: whichever of the two the figures show is said,
    with what uvicorn's WSGI adapter takes of its request where measured."""
    names = {"anvil": a, "uvicorn": u}
    hi, lo = ("anvil", "uvicorn") if a["metric"] >= u["metric"] else ("uvicorn", "anvil")
    H, L = names[hi], names[lo]
    parts = []
    if L["saved"] <= 0:
        parts.append(f"{lo}'s move saves nothing measurable here ({L['saved']:+.1f} µs: within "
                     f"this run's noise), {hi}'s {H['saved']:.1f} µs")
    elif H["saved"] > 1.5 * L["saved"]:
        parts.append(f"{hi}'s Python {stage} does more per request: moving it into C saves "
                     f"{H['saved']:.1f} µs against {lo}'s {L['saved']:.1f} µs")
    dearer = L["base"] and H["base"] and L["base"] > 1.3 * H["base"]
    if dearer:
        text = (f"{lo}'s request costs more around the {stage} ({L['base']:.1f} µs with it in "
                f"Python, against {H['base']:.1f} µs in {hi}'s), which makes "
                + ("even a larger saving" if L["saved"] >= H["saved"] else "a saving")
                + " a smaller share of it")
        if lo == "uvicorn" and adapter:
            text += (f"; of that, uvicorn's WSGI adapter alone takes "
                     f"{adapter[0] - adapter[1]:.1f} µs (uvloop and httptools: "
                     f"{adapter[0]:.1f} µs with the WSGI app, {adapter[1]:.1f} µs with the "
                     "same response from an ASGI app)")
        parts.append(text)
    if not parts:
        parts.append(f"neither the µs saved ({a['saved']:.1f} in anvil, {u['saved']:.1f} in "
                     f"uvicorn) nor the cost around the {stage} ({_fmt(a['base'], 1)} against "
                     f"{_fmt(u['base'], 1)} µs) differ enough to explain it: read it as this "
                     "run's noise")
    return "; ".join(parts)


def uvicorn_section(cells):
    """SURVEY.md's second ladder: the 2x2 per runtime and workload, both
    ladders side by side, and whether they agree."""
    if not uvicorn_measured(cells):
        return []
    wl = cells.data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in cells.data["parameters"]["runtimes"]]
    out = ["## A second ladder: uvicorn's loop x parser", "",
           "uvicorn (Debian's 0.17) serves the same hello app as a WSGI app "
           "(`--interface wsgi`) with its event loop from uvloop (libuv, C) or asyncio "
           "(Python), and its HTTP parser from httptools (C) or h11 (Python): the survey's "
           "two factors, in a server that is not anvil. Server CPU µs per request (requests/s), "
           "median of the runs; the margins: what moving that stage into C saves, in µs and as "
           "the ratio of the two CPU figures.", ""]
    reasons = {}
    for rt in rts:
        for w in wl:
            out += [f"**{RT[rt]}, {WORKLOAD_LABELS[w]}**", "", uvicorn_table(cells, rt, w), ""]
        for loop, http in servers.UVICORN:
            for w in wl:
                c = cells.get(servers.uvicorn_key(loop, http), rt, w)
                if c and c["status"] == "not available":
                    reasons.setdefault(c["error"], []).append(f"{loop} + {http} on {RT[rt]}")
    if reasons:
        out += ["Not available: " + "; ".join(
            f"{', '.join(dict.fromkeys(what))}: {why}" for why, what in reasons.items()) + ".", ""]
    for rt in rts:
        for w in wl:
            a = adapter_cost(cells, rt, w)
            if a:
                out.append(f"uvicorn's WSGI adapter, {RT[rt]}, {WORKLOAD_LABELS[w]}: uvloop + "
                           f"httptools costs {a[0]:.1f} µs per request with the WSGI app, "
                           f"{a[1]:.1f} µs with the same response from an ASGI app: "
                           f"{a[0] - a[1]:+.1f} µs ({1 - a[1] / a[0]:.0%} of the request) for "
                           "running the app in a thread pool.")
                out.append("")
    agree, differ = ladders_agree(cells)
    out += ["**The two ladders side by side** (anvil's: `anvil.refserver` with its Python "
            "parser (step 1), with the C++ parser (step 2), anvil's C++ loop (step 3)):", "",
            ladders_table(cells), "",
            f"Do they agree? Judged on the claims' thresholds (the Python parser's share of the "
            f"request ≥ {PARSER_SHARE:.0%}: 'quite a bit of work'; the Python loop's CPU ≥ "
            f"{LOOP_RATIO}x the C loop's: 'very important'):", ""]
    if agree:
        out += ["They agree:", ""] + [f"- {a}." for a in agree] + [""]
    if differ:
        out += ["They do not, and why:", ""] + [f"- {d}." for d in differ] + [""]
    if not agree and not differ:
        out += ["No runtime and workload has both ladders' cells: nothing to compare.", ""]
    return out


# --- the contradiction: twisted and tornado on PyPy --------------------------------------

CONTRADICTION = ["twisted", "tornado"]
# What the issue reported (issue 14), for the record: the reduced run of
# 2026-11-25 (each cell about 12 s, load 4-6) against an `ab` run with a
# 40,000-request warm-up. Requests/s, (CPython 3.11, PyPy 3.9).
EARLIER = {"twisted": {"capped run": (3828, 2441), "ab after a long warm-up": (3178, 4081)},
           "tornado": {"capped run": (5123, 3012)}}


def contradiction_rows(cells, workload="close-chrome"):
    """Per server and runtime: req/s, CPU per request, the warm-up it needed
    and its first (cold) slice."""
    rows = []
    for key in CONTRADICTION:
        for rt in ("cpython", "pypy"):
            c = cells.get(key, rt, workload)
            if not c or c["status"] not in ("ok", "errors"):
                continue
            w = warmup_of(c) or (0, 0, None, None, False)
            first = (c.get("warmup") or {}).get("slices", [{}])[0] if w[0] else {}
            rows.append({"key": key, "runtime": rt, "cell": c,
                         "rps": cells.value(key, rt, workload),
                         "cpu": cells.value(key, rt, workload, "cpu_per_request_us"),
                         "slices": w[0], "warmup_requests": w[1], "first_cpu": w[2],
                         "last_cpu": w[3], "settled": w[4],
                         "first_rps": first.get("requests_per_s")})
    return rows


def contradiction_table(rows):
    lines = ["| server | runtime | requests/s | CPU µs/request | warm-up: slices (requests) | "
             "first slice: req/s, µs/req | last slice µs/req | settled |",
             "|---|---|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        c = r["cell"]
        lines.append(f"| {c['label']} | {RT[r['runtime']]} | "
                     f"{cell_text_of(c, 'requests_per_s', 0)} | "
                     f"{cell_text_of(c, 'cpu_per_request_us', 1)} | {r['slices']} "
                     f"({r['warmup_requests']:,}) | {_fmt(r['first_rps'])}, "
                     f"{_fmt(r['first_cpu'], 1)} | {_fmt(r['last_cpu'], 1)} | "
                     f"{'yes' if r['settled'] else '**no**'} |")
    return "\n".join(lines)


def cell_text_of(c, metric, digits):
    s = (c.get("summary") or {}).get(metric)
    if not s:
        return "—"
    return f"{_fmt(s['median'], digits)} ({_fmt(s['min'], digits)}–{_fmt(s['max'], digits)})"


def contradiction_verdicts(rows):
    """One paragraph per server: which runtime is faster warm, by how much in
    requests/s and CPU per request, what the cold first slice would have
    said, and whether PyPy settled."""
    out = []
    by = {(r["key"], r["runtime"]): r for r in rows}
    for key in CONTRADICTION:
        c, p = by.get((key, "cpython")), by.get((key, "pypy"))
        if not c or not p or not c["rps"] or not p["rps"]:
            continue
        label = servers.BY_KEY[key].label
        faster = "PyPy" if p["rps"] > c["rps"] else "CPython"
        state = ("warm" if p["settled"] and c["settled"] else
                 "with no warm-up record" if not p["slices"] else
                 "after a warm-up that did not settle")
        text = (f"**{label}**: {state}, PyPy serves {p['rps']:,.0f} requests/s against "
                f"CPython's {c['rps']:,.0f} ({p['rps'] / c['rps']:.2f}x), at {p['cpu']:.1f} "
                f"against {c['cpu']:.1f} µs of server CPU per request "
                f"({p['cpu'] / c['cpu']:.2f}x): {faster} is faster.")
        if p["slices"]:
            text += (f" PyPy needed {p['slices']} warm-up slices ({p['warmup_requests']:,} "
                     f"requests; CPython {c['slices']}, {c['warmup_requests']:,})")
            if p["first_cpu"] and p["last_cpu"]:
                text += (f"; its CPU per request went from {p['first_cpu']:.1f} µs in the "
                         f"first slice to {p['last_cpu']:.1f} µs in the last "
                         f"({p['first_cpu'] / p['last_cpu']:.2f}x)")
            if not p["settled"]:
                text += ", and had not settled at the cap: its figure is still not warm"
            text += "."
        if p["first_rps"]:
            cold = "PyPy" if p["first_rps"] > c["rps"] else "CPython"
            if cold != faster:
                text += (f" Measured cold, in its first slice ({p['first_rps']:,.0f} "
                         f"requests/s), PyPy would have come out behind CPython: {cold} "
                         "faster, the opposite order. That is the contradiction: a run that "
                         "measures PyPy before its JIT has settled (a short, time-capped "
                         "cell) and one that warms it first disagree.")
            else:
                text += (f" Cold, in its first slice ({p['first_rps']:,.0f} requests/s), the "
                         f"order was the same ({cold} faster): the warm-up alone does not "
                         "flip it in this run.")
        for what, (ec, ep) in EARLIER.get(key, {}).items():
            text += f" Earlier ({what}): CPython {ec:,}, PyPy {ep:,} requests/s."
        out.append(text)
    return out


def contradiction_section(cells):
    wl = cells.data["parameters"]["workloads"]
    if "close-chrome" not in wl:
        return []
    rows = contradiction_rows(cells)
    if not rows:
        return []
    return ["## twisted and tornado: PyPy against CPython, warm", "",
            "In the reduced run before this one (each cell capped at about 12 s), twisted.web "
            "and tornado were slower on PyPy than on CPython; `ab` after a 40,000-request "
            "warm-up put twisted.web the other way round. Here each cell was warmed by the "
            "rule above, on the survey's workload (a new connection per request, "
            "chrome-2013):", "",
            contradiction_table(rows), ""] + [f"- {v}" for v in contradiction_verdicts(rows)] + [""]


# --- the 2013 claims ---------------------------------------------------------------

def _ratio(a, b):
    return None if a is None or b is None or not b else a / b


CLAIMS_INTRO = ("Each verdict is computed from the figures above with its threshold beside it. "
                "The thresholds are those of this survey's first run, unchanged: the warm-up "
                "and the survey's size change the figures a claim is judged on, not the bar; "
                "the claims on parsing and on the loop are judged in both ladders, anvil's and "
                "uvicorn's, each on its own.")


def claims(cells):
    """(claim, verdict, evidence) for each of the survey's claims."""
    wl = cells.data["parameters"]["workloads"]
    out = []
    close_chrome = "close-chrome" if "close-chrome" in wl else wl[0]

    # 1. Header parsing is quite a bit of work. The direct measure is ladder
    # step 1 − step 2 (the same Python server, its parser in Python or in C++),
    # on the chrome-2013 request; chrome-2013 − ab on the Python-parser server
    # is the cost of its nine extra fields.
    ev, shares = [], []
    for rt in ("cpython", "pypy"):
        for w in [x for x in ("keepalive-chrome", "close-chrome") if x in wl]:
            one = cells.value("ref-python", rt, w, "cpu_per_request_us")
            two = cells.value("ref-fast", rt, w, "cpu_per_request_us")
            if one and two:
                shares.append((rt, (one - two) / one))
                text = (f"{RT[rt]}, {WORKLOAD_LABELS[w]}: parsing in Python {one - two:+.1f} µs "
                        f"({(one - two) / one:+.0%} of {one:.1f} µs)")
                ab = cells.value("ref-python", rt, w.replace("chrome", "ab"), "cpu_per_request_us")
                if ab:
                    text += f", chrome-2013 − ab {one - ab:+.1f} µs"
                ev.append(text)
    # uvicorn's ladder: h11 − httptools on the same loop, the same request.
    uv_shares = []
    for rt in ("cpython", "pypy"):
        for w in [x for x in ("keepalive-chrome", "close-chrome") if x in wl]:
            for loop, m in uvicorn_moves(cells, rt, w)[0]:
                uv_shares.append((rt, parser_share(m)))
                ev.append(f"uvicorn on {loop}, {RT[rt]}, {WORKLOAD_LABELS[w]}: h11 "
                          f"{m[0]:+.1f} µs ({parser_share(m):+.0%}) over httptools")
    if shares or uv_shares:
        verdict = []
        for ladder, found in (("anvil's ladder", shares), ("uvicorn's", uv_shares)):
            seen = set()
            for rt, share in found:  # the first workload of each runtime: keep-alive if measured
                if rt not in seen:
                    seen.add(rt)
                    holds = "holds" if share >= PARSER_SHARE else "does not hold"
                    verdict.append(f"{ladder}: {holds} on {RT[rt]} (the Python parser's share: "
                                   f"{share:.0%})")
        out.append(("Parsing headers is quite a bit of work (CPU per request: anvil's ladder "
                    "step 1 − step 2, the same pure-Python server with its parser in Python or "
                    "in C++; uvicorn's h11 − httptools on the same loop; the chrome-2013 "
                    "request, judged with keep-alive where the kernel's connection costs do not "
                    f"drown it; threshold: ≥ {PARSER_SHARE:.0%} of the request)",
                    "; ".join(verdict), "; ".join(ev)))

    # 2. With simple (ab) headers the results change drastically.
    if "close-chrome" in wl and "close-ab" in wl:
        ratios = []
        for key in PURE_PYTHON:
            for rt in ("cpython", "pypy"):
                r = _ratio(cells.value(key, rt, "close-ab"), cells.value(key, rt, "close-chrome"))
                if r:
                    ratios.append((r, f"{servers.BY_KEY[key].label}/{RT[rt]} {r:.2f}x"))
        if ratios:
            med = statistics.median(r for r, _ in ratios)
            holds = med >= 1.3
            out.append(("With simple headers (as ab sends) the results change drastically "
                        "(requests/s with ab over chrome-2013, Python servers; threshold for "
                        "'drastically': median ≥ 1.3x)",
                        f"{'holds' if holds else 'does not hold'}: median {med:.2f}x",
                        ", ".join(t for _, t in sorted(ratios, reverse=True))))

    # 3. Under PyPy the choice of server hardly matters: the survey's own servers
    # (cyclone aside), as it compared them; then today's asyncio servers with
    # them, where each ran on both runtimes. The threshold is the survey's
    # own contrast (1.30x on PyPy against 1.78x on CPython), kept as it was.
    def spread(keys, rt):
        vals = [(cells.value(k, rt, close_chrome), k) for k in keys]
        vals = [(v, k) for v, k in vals if v]
        return (max(vals)[0] / min(vals)[0], max(vals), min(vals)) if len(vals) >= 2 else None

    def spread_text(sp):
        return (f"{servers.BY_KEY[sp[1][1]].label} {sp[1][0]:.0f} to "
                f"{servers.BY_KEY[sp[2][1]].label} {sp[2][0]:.0f} req/s")

    c, p = spread(SURVEY_ORDER, "cpython"), spread(SURVEY_ORDER, "pypy")
    if c and p:
        holds = p[0] < c[0] and p[0] <= 1.5
        ev = [f"PyPy: {spread_text(p)}; CPython: {spread_text(c)}"]
        both = [k for k in SURVEY_ORDER + TODAY
                if cells.value(k, "cpython", close_chrome) and cells.value(k, "pypy", close_chrome)]
        tc, tp = spread(both, "cpython"), spread(both, "pypy")
        if tc and tp and set(both) - set(SURVEY_ORDER):
            ev.append(f"with today's asyncio servers beside them ({len(both)} servers that ran on "
                      f"both): {tp[0]:.2f}x on PyPy ({spread_text(tp)}), {tc[0]:.2f}x on CPython "
                      f"({spread_text(tc)})")
        warm = [w for w in (warmup_of(cells.get(k, "pypy", close_chrome) or {})
                            for k in SURVEY_ORDER) if w]
        if warm:
            ev.append(f"every PyPy cell warmed by the rule ({sum(1 for w in warm if w[4])} of "
                      f"{len(warm)} settled)")
        out.append(("Under PyPy the choice of server hardly matters (spread of requests/s, "
                    "fastest over slowest of the survey's servers that ran, the survey's "
                    "workload; 2013: 1.30x on "
                    "PyPy against 1.78x on CPython; threshold: PyPy's spread ≤ 1.5x and below "
                    "CPython's)",
                    f"{'holds' if holds else 'does not hold'}: {p[0]:.2f}x on PyPy, "
                    f"{c[0]:.2f}x on CPython", "; ".join(ev)))

    # 4. On CPython running the loop in C is still very important: the same
    # parser, the loop in Python or in C. anvil's ladder: step 2 over step 3;
    # uvicorn's: asyncio over uvloop, with each parser.
    ev, ratio, uv_ratio = [], {}, {}
    for rt in ("cpython", "pypy"):
        for w in wl:
            r = _ratio(cells.value("ref-fast", rt, w, "cpu_per_request_us"),
                       cells.value("anvil-fast", rt, w, "cpu_per_request_us"))
            if r:
                ratio.setdefault(rt, []).append(r)
                ev.append(f"anvil, {RT[rt]}, {WORKLOAD_LABELS[w]}: {r:.2f}x")
            for http, m in uvicorn_moves(cells, rt, w)[1]:
                uv_ratio.setdefault(rt, []).append(m[1])
                ev.append(f"uvicorn with {http}, {RT[rt]}, {WORKLOAD_LABELS[w]}: {m[1]:.2f}x "
                          f"({m[0]:+.1f} µs)")
    if "cpython" in ratio or "cpython" in uv_ratio:
        parts = []
        for ladder, found, what in (("anvil's ladder", ratio, "the Python loop costs"),
                                    ("uvicorn's", uv_ratio, "asyncio costs")):
            if "cpython" not in found:
                continue
            c = statistics.median(found["cpython"])
            text = (f"{ladder}: {'holds' if c >= LOOP_RATIO else 'does not hold'}, {what} "
                    f"{c:.2f}x the C loop's CPU per request on CPython")
            if "pypy" in found:
                text += f", {statistics.median(found['pypy']):.2f}x on PyPy"
            parts.append(text)
        others = [(cells.value(k, "cpython", close_chrome, "cpu_per_request_us"), k)
                  for k in PURE_PYTHON if k != "ref-python"]
        others = sorted((v, k) for v, k in others if v)
        ref = cells.value("ref-python", "cpython", close_chrome, "cpu_per_request_us")
        if others and ref:
            ev.append(f"the Python servers from Debian spend {others[0][0] / ref:.1f}x "
                      f"({servers.BY_KEY[others[0][1]].label}) to {others[-1][0] / ref:.1f}x "
                      f"({servers.BY_KEY[others[-1][1]].label}) the CPU per request of anvil's "
                      "pure-Python reference server (step 1) on CPython, the survey's workload: "
                      "what costs is the code they run per request, more than the language of "
                      "the loop")
        out.append(("On CPython 'running a loop in C' is still very important (CPU per request "
                    "with the same parser, the loop in Python over the loop in C: anvil's ladder "
                    "step 2 over step 3, the C++ parser; uvicorn's asyncio over uvloop, with h11 "
                    f"and with httptools; median over the workloads; threshold: ≥ {LOOP_RATIO}x)",
                    "; ".join(parts), "; ".join(ev)))

    # 5. uWSGI wins on CPython because no Python code runs in the server.
    u = cells.value("uwsgi", "cpython", close_chrome)
    if u:
        best = max(((cells.value(k, "cpython", close_chrome) or 0, k) for k in PURE_PYTHON
                    if k != "ref-python"), default=(0, None))
        ref = cells.value("ref-python", "cpython", close_chrome)
        anvil = cells.value("anvil-fast", "cpython", close_chrome)
        holds = u > best[0]
        text = (f"{'holds' if holds else 'does not hold'} against the Python servers from "
                f"Debian: "
                f"uWSGI {u:.0f} req/s, the best of them {servers.BY_KEY[best[1]].label} "
                f"{best[0]:.0f}")
        if ref:
            text += f"; anvil's own pure-Python reference server {ref:.0f}"
        if anvil:
            text += (f"; anvil (C++ loop and parser) {anvil:.0f} req/s, "
                     f"{anvil / u:.2f}x uWSGI")
        uc = cells.value("uwsgi", "cpython", close_chrome, "cpu_per_request_us")
        ac = cells.value("anvil-fast", "cpython", close_chrome, "cpu_per_request_us")
        ev = f"CPU per request: uWSGI {_fmt(uc, 1)} µs, anvil fast {_fmt(ac, 1)} µs"
        out.append(("uWSGI wins on CPython because no Python code runs in the server "
                    "(requests/s, the survey's workload)", text, ev))
    # Not a 2013 claim, what the ladder shows besides: what the call into the
    # app costs on each runtime (PyPy's default path into the core is cffi).
    ev, rows = [], []
    for w in wl:
        c = _diff(cells.value("anvil-fast", "cpython", w, "cpu_per_request_us"),
                  cells.value("anvil-pynative", "cpython", w, "cpu_per_request_us"))
        p = _diff(cells.value("anvil-fast", "pypy", w, "cpu_per_request_us"),
                  cells.value("anvil-pynative", "pypy", w, "cpu_per_request_us"))
        if c is not None and p is not None:
            rows.append((c, p))
            ev.append(f"{WORKLOAD_LABELS[w]}: {c:.1f} µs on CPython, {p:.1f} µs on PyPy")
    if rows:
        c = statistics.median(r[0] for r in rows)
        p = statistics.median(r[1] for r in rows)
        ctext = (f"is within the run-to-run noise on CPython (median {c:+.1f} µs)" if c < 2
                 else f"costs a median {c:.1f} µs per request on CPython")
        ptext = (f"{p:.1f} µs on PyPy, through its default cffi path (where that time goes: "
                 "bench/README.md, the cffi findings)" if p > max(c, 0) + 5
                 else f"{p:.1f} µs on PyPy")
        out.append(("New today: calling the Python app from a C++ loop (ladder step 3 − step 4: "
                    "environ, start_response and the call)", f"{ctext}; {ptext}",
                    "; ".join(ev)))
    return out


# --- charts ------------------------------------------------------------------------

def chart_requests(cells, path, workloads):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in cells.measured_servers()
            if any(cells.value(k, rt, w) for rt in ("cpython", "pypy", "native") for w in workloads)]
    colors = {"cpython": "#3572A5", "pypy": "#E8A33D", "native": "#6b6b6b"}
    fig, axes = plt.subplots(len(workloads), 1, figsize=(13, 4.2 * len(workloads)), squeeze=False)
    for ax, w in zip(axes[:, 0], workloads):
        width = 0.38
        for i, key in enumerate(keys):
            rts = [r for r in ("cpython", "pypy", "native") if r in servers.BY_KEY[key].runtimes]
            for j, rt in enumerate(rts):
                x = i + (j - (len(rts) - 1) / 2) * width
                c = cells.get(key, rt, w)
                v = cells.value(key, rt, w)
                if v is None:
                    label = "n/a" if c and c["status"] == "not available" else (
                        "failed" if c and c["status"] == "failed" else "")
                    if label:
                        ax.text(x, 0, label, rotation=90, ha="center", va="bottom", fontsize=7,
                                color=colors[rt])
                    continue
                lo = cells.value(key, rt, w, stat="min")
                hi = cells.value(key, rt, w, stat="max")
                ax.bar(x, v, width, color=colors[rt], yerr=[[v - lo], [hi - v]], capsize=2,
                       error_kw={"elinewidth": 0.8}, label=RT[rt])
        old = [(i, servers.SURVEY_2013[k]) for i, k in enumerate(keys) if k in servers.SURVEY_2013]
        if w == "close-chrome" and old:
            ax.scatter([i - width / 2 for i, _ in old], [o[0] for _, o in old], marker="_", s=160,
                       color="#1b3b5a", zorder=3, label="2013, CPython 2.7")
            ax.scatter([i + width / 2 for i, _ in old], [o[1] for _, o in old], marker="_", s=160,
                       color="#9c5a00", zorder=3, label="2013, PyPy 2.0")
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([servers.BY_KEY[k].label.replace(" (", "\n(") for k in keys],
                           rotation=40, ha="right", fontsize=8)
        ax.set_ylabel("requests/s (median, min–max)")
        ax.set_title(f"Hello app, {WORKLOAD_LABELS[w]}: requests/s per server and runtime")
        ax.grid(axis="y", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="upper left")
    fig.text(0.99, 0.005, _footer(cells), ha="right", fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


LADDER_STEPS = [("ref-python", "1: Python loop + Python parser", "#d62728"),
                ("ref-fast", "2: Python loop + C++ parser", "#ff7f0e"),
                ("anvil-fast", "3: C++ loop + C++ parser + Python app", "#1f77b4"),
                ("anvil-pynative", "4: C++ loop + native handler", "#7f7f7f")]


def chart_ladder(cells, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wl = cells.data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in cells.data["parameters"]["runtimes"]]
    groups = [(r, w) for r in rts for w in wl]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 7.5), gridspec_kw={"width_ratios": [1.25, 1]})

    # Left: the ladder, one bar per step, for each runtime and workload.
    width = 0.2
    for j, (key, label, color) in enumerate(LADDER_STEPS):
        for i, (r, w) in enumerate(groups):
            v = cells.value(key, r, w, "cpu_per_request_us")
            if v is None:
                continue
            lo = cells.value(key, r, w, "cpu_per_request_us", "min")
            hi = cells.value(key, r, w, "cpu_per_request_us", "max")
            x = i + (j - 1.5) * width
            ax.bar(x, v, width, color=color, label=label, yerr=[[v - lo], [hi - v]], capsize=1.5,
                   error_kw={"elinewidth": 0.7})
            ax.text(x, hi, f"{v:.0f}", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{RT[r]}\n{WORKLOAD_LABELS[w]}" for r, w in groups], fontsize=7,
                       rotation=30, ha="right")
    ax.set_ylabel("server CPU µs per request (median, min–max)")
    ax.set_title("The cost ladder: each step moves one stage into C++")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper right")
    ax.grid(axis="y", alpha=0.3)

    # Right: per-request cost by stage. Steps 3 and 4 from anvil's --stats
    # (wall time per stage) with the rest of the CPU per request outside the
    # timed stages; steps 1 and 2 are one Python server, not broken down.
    rows = []
    for r in rts:
        for w in [x for x in ("keepalive-chrome", "close-chrome") if x in wl] or wl[:1]:
            for key, label, color in LADDER_STEPS:
                c = cells.get(key, r, w)
                cpu = cells.value(key, r, w, "cpu_per_request_us")
                if c and cpu:
                    rows.append((f"{RT[r]}, {WORKLOAD_LABELS[w]}: step {label.split(':')[0]}",
                                 c.get("stats"), cpu, color))
    stage_colors = dict(zip(STAGES, ["#9edae5", "#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"]))
    for i, (label, st, cpu, color) in enumerate(rows):
        if not st:
            ax2.barh(i, cpu, color=color, alpha=0.35, hatch="..", edgecolor=color,
                     label=f"step {label.split('step ')[-1]}: one Python server, not broken down")
            continue
        left = 0.0
        for stage in STAGES:
            v = st.get(stage, 0.0)
            if v:
                ax2.barh(i, v, left=left, color=stage_colors[stage], label=f"--stats: {stage}")
            left += v
        if cpu > left:
            ax2.barh(i, cpu - left, left=left, color="#c7c7c7",
                     label="outside the timed stages (kernel accept/close, loop)")
        ax2.plot([cpu, cpu], [i - 0.42, i + 0.42], color="black", linewidth=2,
                 label="CPU per request (the process)")
    ax2.set_yticks(range(len(rows)))
    ax2.set_yticklabels([r[0] for r in rows], fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlabel("µs per request (stages: --stats wall time; tick: CPU per request)")
    ax2.set_title("Per-request cost by stage")
    handles, labels = ax2.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax2.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper center",
               bbox_to_anchor=(0.4, -0.1), ncol=3)
    ax2.grid(axis="x", alpha=0.3)
    fig.text(0.99, 0.005, _footer(cells), ha="right", fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# (loop, parser) in C or Python: one colour each, in both ladders.
KIND_COLORS = {("py", "py"): "#d62728", ("py", "c"): "#ff7f0e", ("c", "py"): "#9467bd",
               ("c", "c"): "#1f77b4"}
KIND_LABELS = {("py", "py"): "Python loop + Python parser", ("py", "c"): "Python loop + C parser",
               ("c", "py"): "C loop + Python parser", ("c", "c"): "C loop + C parser"}
ANVIL_BARS = [("ref-python", ("py", "py"), "anvil.refserver, Python parser (step 1)"),
              ("ref-fast", ("py", "c"), "anvil.refserver, fast parser (step 2)"),
              ("anvil-fast", ("c", "c"), "anvil, fast parser (step 3)")]
UVICORN_BARS = [(servers.uvicorn_key(loop, http),
                 ("c" if loop == "uvloop" else "py", "c" if http == "httptools" else "py"),
                 f"uvicorn {loop} + {http}") for loop, http in
                [("asyncio", "h11"), ("asyncio", "httptools"), ("uvloop", "h11"),
                 ("uvloop", "httptools")]]


def chart_ladders(cells, path):
    """anvil's ladder and uvicorn's 2x2 side by side, CPU µs per request per
    runtime and workload; the colour says which stages are in C."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wl = cells.data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in cells.data["parameters"]["runtimes"]]
    groups = [(r, w) for r in rts for w in wl]
    # Each its own scale: a uvicorn request costs several times anvil's.
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
    for ax, bars, title in ((axes[0], ANVIL_BARS, "anvil's ladder"),
                            (axes[1], UVICORN_BARS, "uvicorn: loop x parser")):
        width = 0.8 / len(bars)
        for j, (key, kind, label) in enumerate(bars):
            for i, (r, w) in enumerate(groups):
                x = i + (j - (len(bars) - 1) / 2) * width
                v = cells.value(key, r, w, "cpu_per_request_us")
                if v is None:
                    c = cells.get(key, r, w)
                    if c and c["status"] in ("not available", "failed"):
                        ax.text(x, 0, "n/a" if c["status"] == "not available" else "failed",
                                rotation=90, ha="center", va="bottom", fontsize=6,
                                color=KIND_COLORS[kind])
                    continue
                lo = cells.value(key, r, w, "cpu_per_request_us", "min")
                hi = cells.value(key, r, w, "cpu_per_request_us", "max")
                ax.bar(x, v, width, color=KIND_COLORS[kind], label=KIND_LABELS[kind],
                       yerr=[[v - lo], [hi - v]], capsize=1.5, error_kw={"elinewidth": 0.7})
                ax.text(x, hi, f"{v:.0f}", ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{RT[r]}\n{WORKLOAD_LABELS[w]}" for r, w in groups], fontsize=7,
                           rotation=30, ha="right")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper right")
        ax.set_ylabel("server CPU µs per request (median, min–max)")
    fig.suptitle("What moving the parser and the loop into C is worth, in two servers")
    fig.text(0.99, 0.005, _footer(cells), ha="right", fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _footer(cells):
    d = cells.data
    m = d["machine"]
    p = d["parameters"]
    counts = f"≤{p['requests'] - p['warmup']} counted requests/run after ≥{p['warmup']} warm-up"
    if p.get("full_size"):
        counts += f" ({', '.join(p['full_size'])} at full size from {p['full_rate']:g} req/s)"
    if p.get("cell_seconds"):
        counts += f", other cells ~{p['cell_seconds']:g} s"
    return (f"{d['matrix']} matrix · {m['cpu_model']}, {m['cores']} cores · {m['date'][:10]} · "
            f"git {m['git_commit']} · {counts}, {p['runs']} runs · server on core 0, hammer on "
            "core 1")


# --- outputs -----------------------------------------------------------------------

def survey_md(data, suffix=""):
    cells = Cells(data)
    m, p = data["machine"], data["parameters"]
    wl = p["workloads"]
    banner = {
        "full": "the full matrix with the survey's parameters",
        "reduced": "**a REDUCED run**: fewer requests per run than the survey's 120000 "
                   "(see the parameters); the figures are medians of shorter runs",
        "quick": "**the QUICK matrix** (`make survey QUICK=1`): a few servers, short runs",
        "demo": "the demo ladder",
    }[data["matrix"]]
    out = [f"# The WSGI server survey, redone ({data['matrix']})", "",
           f"This is {banner}. Written by `bench/survey/survey.py` "
           "(`make survey`); raw figures in `survey.json`.", ""]
    if data.get("label"):
        out += [f"Note on this run: {data['label']}", ""]
    for mg in data.get("merges", []):
        out += [f"Merged in later: the cells of {', '.join(mg['servers'])} on "
                f"{', '.join(mg['runtimes'])} were measured again on {mg['date']} (git "
                f"{mg['git_commit']}, load average {mg['load_average_at_start'][0]:.2f}) and "
                "replace the first run's.", ""]
    out += [
        "| | |", "|---|---|",
        f"| date | {m['date']} |", f"| git commit | {m['git_commit']} |",
        f"| CPU | {m['cpu_model']}, {m['cores']} cores (kernel {m['kernel']}) |",
        f"| load average at start | {', '.join(f'{x:.2f}' for x in m['load_average_at_start'])} |",
        "| runtimes | CPython 3.11 (`/usr/bin/python3`), PyPy 3.9 (`/usr/bin/pypy3`) |",
        f"| client | `hammer` -t {p['threads']} -c {p['connections']} on core {p['client_cpu']}; "
        f"server on core {p['server_cpu']} (`taskset`) |",
        f"| per configuration | a warm-up of at least {p['warmup']:,} requests (not counted; "
        f"slices until CPU per request settles), then {p['runs']} runs of up to "
        f"{p['counted_per_run']:,} counted requests |",
        f"| elapsed | {data['elapsed_s'] / 60:.1f} min"
        + ("" if data.get("complete", True) else " (**incomplete**: the run was interrupted; "
           "`--resume` measures the rest)") + " |", "",
        "How to read: every figure is the median of the runs, with (min–max). Requests/s is "
        "what `hammer` counted; **CPU per request** is the user+sys time of the server's whole "
        "process tree (from `/proc`) over the counted requests, divided by their number: on a "
        "2-core machine where the client shares the box it is the figure to trust, requests/s "
        "also depends on the client. `n/a`: the server does not run on that runtime; `failed`: "
        "it did not start, answered wrongly or died (reasons at the end). Every server serves "
        "the same hello app (13-byte body, Content-Length).", "", counts_text(cells), "",
        warmup_rule_text(cells) + " " + warmup_summary(cells) + " (each cell's warm-up: "
        "[below](#the-warm-up-of-each-cell)).", "", noise_text(cells), ""]
    if "close-chrome" in wl:
        out += ["## The survey's table: requests/s, a new connection per request, chrome-2013", "",
                "The survey's workload: the Chrome-like GET, no keep-alive, 4 client threads x "
                "10 connections. 2013: CPython 2.7 / PyPy 2.0 on the survey's machine (its own "
                "figures, for the shape, not for a ratio).", "",
                survey_table(cells, "close-chrome"), ""]
    out += contradiction_section(cells)
    if "close-ab" in wl:
        out += ["## The same with `ab`'s simple request", "", survey_table(cells, "close-ab"), ""]
    for w in ("keepalive-chrome", "keepalive-ab"):
        if w in wl:
            out += [f"## Requests/s, {WORKLOAD_LABELS[w]}", "", survey_table(cells, w), ""]
    out += ["## Server CPU time per request (µs)", "", cpu_table(cells), "",
            "## Latency (p50 / p99) and errors", "", latency_table(cells), "",
            "## The cost ladder (server CPU µs per request)", "",
            "Each step moves one part of the request into C++; the same hello app throughout. "
            "Step 1: a pure-Python selectors server with a pure-Python parser "
            "(`anvil.refserver`); step 2: the same loop with anvil's C++ parser; step 3: "
            "anvil's C++ loop and parser calling the Python app; step 4: the C++ loop with the "
            "native hello handler (no Python per request; `--native hello` in the same "
            "interpreter process, and the `anvil-native` binary).", "",
            ladder_table(cells), "", "What each move is worth (differences of the medians above):",
            "", ladder_diff_table(cells), "",
            "`--stats` of the anvil servers: mean wall time per request in each timed stage, "
            "over every request the server answered (warm-up included), beside the CPU per "
            "request; the gap is the time outside the timed stages (the kernel's accept and "
            "close, the loop).", "", stats_table(cells), ""]
    out += uvicorn_section(cells)
    out += ["## The 2013 claims today", "", CLAIMS_INTRO, ""]
    for claim, verdict, evidence in claims(cells):
        out += [f"- **{claim}**: {verdict}. <br>{evidence}."]
    out += ["", "## Charts", "",
            f"![requests/s per server and runtime](survey-requests{suffix}.png)", "",
            f"![the cost ladder](survey-ladder{suffix}.png)", "",
            f"![the two ladders](survey-ladders{suffix}.png)", "",
            "## The warm-up of each cell", "", warmup_rule_text(cells), "",
            warmup_table(cells, ("cpython", "pypy", "native")), "",
            "## Failures, errors and servers not available", "", failures(cells), "",
            "## Notes on the servers", "", known_notes(cells), ""]
    return "\n".join(out)


def readme_section(data):
    """The README's survey section: the run in one line, the survey's table,
    the ladder, the second ladder, the contradiction, the claims, the charts."""
    cells = Cells(data)
    m, p = data["machine"], data["parameters"]
    wl = p["workloads"]
    load = m["load_average_at_start"][0]
    end = data.get("load_average_at_end")
    incomplete = "" if data.get("complete", True) else " (incomplete)"
    out = [f"{m['cpu_model']}, {m['cores']} cores; commit `{m['git_commit']}`, {m['date']}; "
           f"**{data['matrix'].upper()} matrix**{incomplete}; load average {load:.2f} at the "
           "start" + (f", {end[0]:.2f} at the end" if end else "")
           + f"; {data['elapsed_s'] / 60:.1f} min. Every table and verdict below is generated "
           "from [`bench/results/survey.json`](bench/results/survey.json) by "
           "`bench/survey/report.py`; more in "
           "[`bench/results/SURVEY.md`](bench/results/SURVEY.md).",
           ""]
    if data.get("label"):
        out += [f"**Note on this run:** {data['label']}", ""]
    out += [counts_text(cells), "", warmup_rule_text(cells) + " " + warmup_summary(cells) + ".",
            ""]
    if "close-chrome" in wl:
        out += ["### The survey's table: requests/s, a new connection per request, chrome-2013",
                "", survey_table(cells, "close-chrome"), ""]
    out += ["![requests/s per server and runtime](bench/results/survey-requests.png)", ""]
    out += [line.replace("## ", "### ", 1) if line.startswith("## ") else line
            for line in contradiction_section(cells)]
    out += ["### Where a request's time goes: the cost ladder (server CPU µs per request)", "",
            ladder_table(cells), "", "What each move is worth (differences of the medians "
            "above):", "", ladder_diff_table(cells), "",
            "![the cost ladder](bench/results/survey-ladder.png)", ""]
    out += [line.replace("## ", "### ", 1) if line.startswith("## ") else line
            for line in uvicorn_section(cells)]
    out += ["![the two ladders](bench/results/survey-ladders.png)", "",
            "### The 2013 claims today", "", CLAIMS_INTRO, ""]
    out += [f"- **{claim}**: {verdict}. <br>{evidence}." for claim, verdict, evidence
            in claims(cells)]
    return "\n".join(out)


def write_all(data, outdir, suffix="", readme=False):
    """SURVEY.md and the charts into outdir; the README's survey section too
    when readme (the committed results)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cells = Cells(data)
    (outdir / f"SURVEY{suffix}.md").write_text(survey_md(data, suffix))
    wl = data["parameters"]["workloads"]
    try:
        chart_requests(cells, outdir / f"survey-requests{suffix}.png",
                       [w for w in ("close-chrome", "keepalive-chrome") if w in wl] or wl[:1])
        chart_ladder(cells, outdir / f"survey-ladder{suffix}.png")
        chart_ladders(cells, outdir / f"survey-ladders{suffix}.png")
    except ImportError as e:
        print(f"survey: no charts ({e}); install python3-matplotlib")
    print(f"survey: wrote {outdir}/SURVEY{suffix}.md and charts")
    if readme:
        measure.write_section(README, "survey", readme_section(data))
        print(f"survey: rewrote the survey section of {README}")


def survey_text(data):
    """The console summary: CPU per request and requests/s of every cell."""
    cells = Cells(data)
    wl = data["parameters"]["workloads"]
    name_w = 34
    lines = ["", f"{'server':{name_w}} {'runtime':13} " + " ".join(f"{w:>24}" for w in wl),
             f"{'':{name_w}} {'':13} " + " ".join(f"{'req/s  µs CPU/req':>24}" for _ in wl)]
    for key in cells.measured_servers():
        for rt in cells.runtimes_of(key):
            cols = []
            for w in wl:
                c = cells.get(key, rt, w)
                rps = cells.value(key, rt, w)
                cpu = cells.value(key, rt, w, "cpu_per_request_us")
                if rps is None:
                    cols.append(f"{(c or {}).get('status', '—'):>24}")
                else:
                    cols.append(f"{rps:>14,.0f} {cpu:>9.1f}")
            lines.append(f"{servers.BY_KEY[key].label:{name_w}} {RT[rt]:13} " + " ".join(cols))
    return "\n".join(lines)


def ladder_text(data):
    """`make demo`: the ladder's table on the console, each cell's median with
    the min–max of its runs, and the differences between the steps by
    difference_text() (within noise where the runs' spread is larger)."""
    cells = Cells(data)
    wl = data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in data["parameters"]["runtimes"]]
    cols = [(r, w) for r in rts for w in wl]
    width = 32
    head = "".join(f"{RT[r].split()[0] + ' ' + w:>{width}}" for r, w in cols)
    out = ["", f"The cost ladder: server CPU µs per request, median "
           f"(min–max) of {data['parameters']['runs']} runs", f"{'step':64}{head}"]
    rows = [(f"{step}  {desc}", key, None) for step, key, desc in LADDER_ROWS]
    rows.append(("4  anvil-native hello (the C++ binary, no Python)", "anvil-native", "native"))
    for label, key, fixed in rows:
        vals = [cells.summary(key, fixed or r, w) for r, w in cols]
        if any(vals):  # a server the run left out is not a row
            out.append(f"{label:64}" + "".join(f"{difference_text(v):>{width}}" for v in vals))
    out += ["", "What each step saves (µs per request):", f"{'':64}{head}"]
    steps = {(r, w): ladder_steps(cells, r, w)[1] for r, w in cols}
    for name in next(iter(steps.values()), {}):
        out.append(f"{name:64}" + "".join(f"{difference_text(steps[c][name]):>{width}}"
                                          for c in cols))
    out += ["", noise_rule(data)]
    return "\n".join(out)


def load_text(load):
    """The 1, 5 and 15 minute load averages, as the console and --compare print them."""
    return " ".join(f"{x:.2f}" for x in load) if load else "—"


def _overlap(a, b):
    return a["min"] <= b["max"] and b["min"] <= a["max"]


def compare_text(a, b):
    """Two runs of the same matrix (e.g. two `make demo --out` runs) side by
    side, as Markdown: each cell's CPU per request, median (min–max), in
    both and whether the two ranges overlap; then each ladder difference in
    both, which agree where both are within noise or their ranges (every
    difference a run of each cell can show) overlap."""
    ca, cb = Cells(a), Cells(b)
    out = []
    for name, d in (("A", a), ("B", b)):
        m = d["machine"]
        out.append(f"- run {name}: {m['date']}, commit {m['git_commit']}, {m['cpu_model']} "
                   f"({m['cores']} cores), load average {load_text(m['load_average_at_start'])} "
                   f"at the start, {load_text(d.get('load_average_at_end'))} at the end, "
                   f"{d.get('elapsed_s', 0) / 60:.1f} min")
    out += ["", "| server | runtime | workload | run A: CPU µs/request | run B | ranges |",
            "|---|---|---|--:|--:|---|"]
    agree = total = 0
    for c in a["cells"]:
        sa = ca.summary(c["server"], c["runtime"], c["workload"])
        sb = cb.summary(c["server"], c["runtime"], c["workload"])
        if not sa or not sb:
            continue
        total += 1
        agree += _overlap(sa, sb)
        out.append(f"| {c['label']} | {RT[c['runtime']]} | {WORKLOAD_LABELS[c['workload']]} | "
                   f"{difference_text(sa)} | {difference_text(sb)} | "
                   f"{'overlap' if _overlap(sa, sb) else '**apart**'} |")
    out += ["", f"{agree} of {total} cells' ranges overlap.", "",
            "| ladder difference | runtime, workload | run A | run B | verdict |",
            "|---|---|--:|--:|---|"]
    rts = [r for r in ("cpython", "pypy") if r in a["parameters"]["runtimes"]]
    for r in rts:
        for w in a["parameters"]["workloads"]:
            sa, sb = ladder_steps(ca, r, w)[1], ladder_steps(cb, r, w)[1]
            for name, da in sa.items():
                db = sb[name]
                if da is None or db is None or "within_noise" not in da:
                    continue
                same = (da["within_noise"] and db["within_noise"]) or _overlap(da, db)
                out.append(f"| {name} | {RT[r]}, {WORKLOAD_LABELS[w]} | {difference_text(da)} "
                           f"| {difference_text(db)} | {'agree' if same else '**differ**'} |")
    return "\n".join(out)
