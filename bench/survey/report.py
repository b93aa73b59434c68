"""SURVEY.md, the console tables and the charts, from survey.json's data.

Everything here reads the measured cells only: each verdict on a 2013 claim is
computed from the numbers with the threshold printed beside it, so a rerun on
another machine rewrites the text to match its own figures.
"""

import statistics
from pathlib import Path

import servers

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
               "gevent", "eventlet", "cheroot", "ref-python"]
LADDER_ROWS = [
    ("1", "ref-python", "Python loop, Python parser (anvil.refserver --parser python)"),
    ("2", "ref-fast", "Python loop, C++ fast parser (anvil.refserver --parser fast)"),
    ("2", "ref-llhttp", "Python loop, C++ llhttp parser (anvil.refserver --parser llhttp)"),
    ("3", "anvil-fast", "C++ loop, fast parser, Python app (python -m anvil)"),
    ("3", "anvil-llhttp", "C++ loop, llhttp parser, Python app (python -m anvil)"),
    ("4", "anvil-pynative", "C++ loop, native hello (python -m anvil --native hello)"),
]
STAGES = ["read", "parse", "environ", "app", "write"]


class Cells:
    def __init__(self, data):
        self.data = data
        self.by = {(c["server"], c["runtime"], c["workload"]): c for c in data["cells"]}

    def get(self, server, runtime, workload):
        return self.by.get((server, runtime, workload))

    def value(self, server, runtime, workload, metric="requests_per_s", stat="median"):
        c = self.get(server, runtime, workload)
        if not c or c["status"] not in ("ok", "errors"):
            return None
        s = (c.get("summary") or {}).get(metric)
        return s[stat] if s else None

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
    """CPU/request of each ladder step and the differences between them."""
    v = {k: cells.value(k, runtime, workload, "cpu_per_request_us")
         for k in ("ref-python", "ref-fast", "anvil-fast", "anvil-pynative")}
    return v, {
        "parser moved into C++ (1 − 2)": _diff(v["ref-python"], v["ref-fast"]),
        "loop moved into C++ (2 − 3)": _diff(v["ref-fast"], v["anvil-fast"]),
        "the app call through WSGI (3 − 4)": _diff(v["anvil-fast"], v["anvil-pynative"]),
        "what is left: kernel, C++ loop, parse (4)": v["anvil-pynative"],
    }


def _diff(a, b):
    return None if a is None or b is None else a - b


def ladder_diff_table(cells):
    wl = cells.data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in cells.data["parameters"]["runtimes"]]
    head = [f"{RT[r]}: {WORKLOAD_LABELS[w]}" for r in rts for w in wl]
    lines = ["| CPU µs per request | " + " | ".join(head) + " |", "|---|" + "--:|" * len(head)]
    rows = {}
    for r in rts:
        for w in wl:
            for name, val in ladder_steps(cells, r, w)[1].items():
                rows.setdefault(name, []).append(_fmt(val, 1))
    for name, cols in rows.items():
        lines.append(f"| {name} | " + " | ".join(cols) + " |")
    # chrome-2013 against ab: the header-parsing cost at each step.
    for mode in ("close", "keepalive"):
        if f"{mode}-chrome" in wl and f"{mode}-ab" in wl:
            for _step, key, desc in LADDER_ROWS[:1] + LADDER_ROWS[1:2] + LADDER_ROWS[3:4]:
                cols = []
                for r in rts:
                    d = _diff(cells.value(key, r, f"{mode}-chrome", "cpu_per_request_us"),
                              cells.value(key, r, f"{mode}-ab", "cpu_per_request_us"))
                    for w in wl:
                        cols.append(_fmt(d, 1) if w.startswith(mode) and w.endswith("chrome")
                                    else "")
                lines.append(f"| chrome-2013 − ab, {key} | " + " | ".join(cols) + " |")
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
    """What --cell-seconds left of the survey's counts, per cell."""
    rows = [(c.get("counted_per_run"), c.get("warmup"), c) for c in cells.data["cells"]
            if c.get("counted_per_run")]
    if not rows or not cells.data["parameters"].get("cell_seconds"):
        return ""
    rows.sort(key=lambda r: r[0])
    n = [r[0] for r in rows]
    few = [f"{c['label']} on {RT[c['runtime']]}, {WORKLOAD_LABELS[c['workload']]}: {k} "
           f"({wu} warm-up)" for k, wu, c in rows[:8]]
    return (f"Requests per cell: with `--cell-seconds {cells.data['parameters']['cell_seconds']:g}` "
            f"each cell's warm-up and runs were cut to what the server answers in about that "
            f"time: counted requests per run, median {statistics.median(n):,.0f}, from "
            f"{n[0]:,} to {n[-1]:,} (the survey: 90,000 after 30,000 of warm-up). The fewest: "
            + "; ".join(few) + ".")


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
    return "\n".join(f"- **{servers.BY_KEY[k].label}**: {servers.KNOWN[k]}"
                     for k in keys if k in servers.KNOWN)


# --- the 2013 claims ---------------------------------------------------------------

def _ratio(a, b):
    return None if a is None or b is None or not b else a / b


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
    if shares:
        verdict = []
        for rt, share in shares:  # the first workload of each runtime: keep-alive if measured
            if rt not in [v[0] for v in verdict]:
                verdict.append((rt, f"{'holds' if share >= 0.10 else 'does not hold'} on {RT[rt]} "
                                    f"(the Python parser's share: {share:.0%})"))
        out.append(("Parsing headers is quite a bit of work (CPU per request, ladder step 1 − "
                    "step 2: the same pure-Python server with its parser in Python or in C++, "
                    "the chrome-2013 request, judged with keep-alive where the kernel's "
                    "connection costs do not drown it; threshold: ≥ 10% of the request)",
                    "; ".join(v for _, v in verdict), "; ".join(ev)))

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
    # (cyclone aside), as it compared them.
    spreads = {}
    for rt in ("cpython", "pypy"):
        vals = [(cells.value(k, rt, close_chrome), k) for k in SURVEY_ORDER]
        vals = [(v, k) for v, k in vals if v]
        if len(vals) >= 2:
            spreads[rt] = (max(vals)[0] / min(vals)[0], max(vals), min(vals))
    if len(spreads) == 2:
        c, p = spreads["cpython"], spreads["pypy"]
        holds = p[0] < c[0] and p[0] <= 1.5
        out.append(("Under PyPy the choice of server hardly matters (spread of requests/s, "
                    "fastest over slowest of the survey's servers that ran, the survey's "
                    "workload; 2013: 1.30x on "
                    "PyPy against 1.78x on CPython; threshold: PyPy's spread ≤ 1.5x and below "
                    "CPython's)",
                    f"{'holds' if holds else 'does not hold'}: {p[0]:.2f}x on PyPy, "
                    f"{c[0]:.2f}x on CPython",
                    f"PyPy: {servers.BY_KEY[p[1][1]].label} {p[1][0]:.0f} to "
                    f"{servers.BY_KEY[p[2][1]].label} {p[2][0]:.0f} req/s; CPython: "
                    f"{servers.BY_KEY[c[1][1]].label} {c[1][0]:.0f} to "
                    f"{servers.BY_KEY[c[2][1]].label} {c[2][0]:.0f} req/s"))

    # 4. On CPython running the loop in C is still very important.
    ev, ratio = [], {}
    for rt in ("cpython", "pypy"):
        for w in wl:
            r = _ratio(cells.value("ref-fast", rt, w, "cpu_per_request_us"),
                       cells.value("anvil-fast", rt, w, "cpu_per_request_us"))
            if r:
                ratio.setdefault(rt, []).append(r)
                ev.append(f"{RT[rt]}, {WORKLOAD_LABELS[w]}: {r:.2f}x")
    if "cpython" in ratio:
        c = statistics.median(ratio["cpython"])
        p = statistics.median(ratio["pypy"]) if "pypy" in ratio else None
        holds = c >= 1.5
        text = f"{'holds' if holds else 'does not hold'}: the Python loop costs {c:.2f}x the C++ loop's CPU per request on CPython"
        if p:
            text += f", {p:.2f}x on PyPy"
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
        out.append(("On CPython 'running a loop in C' is still very important (CPU per request, "
                    "ladder step 2 over step 3: the same C++ parser, the loop in Python or in "
                    "C++; threshold: ≥ 1.5x)", text, "; ".join(ev)))

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
    # Not a 2013 claim, what the ladder shows besides: a C extension's calls
    # cost more on PyPy (cpyext emulates the C API) than on CPython.
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
        ptext = (f"{p:.1f} µs on PyPy, where every call into the extension goes through its "
                 "emulated C API (cpyext)" if p > max(c, 0) + 5 else f"{p:.1f} µs on PyPy")
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


def _footer(cells):
    d = cells.data
    m = d["machine"]
    p = d["parameters"]
    counts = (f"≤{p['requests'] - p['warmup']} counted requests/run, cut to ~{p['cell_seconds']:.0f} s "
              "per cell" if p.get("cell_seconds") else
              f"{p['requests']} requests/run ({p['warmup']} warm-up)")
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
        f"| runtimes | CPython 3.11 (`/usr/bin/python3`), PyPy 3.9 (`/usr/bin/pypy3`) |",
        f"| client | `hammer` -t {p['threads']} -c {p['connections']} on core {p['client_cpu']}; "
        f"server on core {p['server_cpu']} (`taskset`) |",
        f"| per configuration | {p['warmup']} warm-up requests (not counted, once), then "
        f"{p['runs']} runs of {p['counted_per_run']} counted requests |",
        f"| elapsed | {data['elapsed_s'] / 60:.1f} min |", "",
        "How to read: every figure is the median of the runs, with (min–max). Requests/s is "
        "what `hammer` counted; **CPU per request** is the user+sys time of the server's whole "
        "process tree (from `/proc`) over the counted requests, divided by their number: on a "
        "2-core machine where the client shares the box it is the figure to trust, requests/s "
        "also depends on the client. `n/a`: the server does not run on that runtime; `failed`: "
        "it did not start, answered wrongly or died (reasons at the end). Every server serves "
        "the same hello app (13-byte body, Content-Length).", "", counts_text(cells), "",
        noise_text(cells), ""]
    if "close-chrome" in wl:
        out += ["## The survey's table: requests/s, a new connection per request, chrome-2013", "",
                "The survey's workload: the Chrome-like GET, no keep-alive, 4 client threads x "
                "10 connections. 2013: CPython 2.7 / PyPy 2.0 on the survey's machine (its own "
                "figures, for the shape, not for a ratio).", "",
                survey_table(cells, "close-chrome"), ""]
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
            "close, the loop).", "", stats_table(cells), "",
            "## The 2013 claims today", ""]
    for claim, verdict, evidence in claims(cells):
        out += [f"- **{claim}**: {verdict}. <br>{evidence}."]
    out += ["", "## Charts", "",
            f"![requests/s per server and runtime](survey-requests{suffix}.png)", "",
            f"![the cost ladder](survey-ladder{suffix}.png)", "",
            "## Failures, errors and servers not available", "", failures(cells), "",
            "## Notes on the servers", "", known_notes(cells), ""]
    return "\n".join(out)


def write_all(data, outdir, suffix=""):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cells = Cells(data)
    (outdir / f"SURVEY{suffix}.md").write_text(survey_md(data, suffix))
    wl = data["parameters"]["workloads"]
    try:
        chart_requests(cells, outdir / f"survey-requests{suffix}.png",
                       [w for w in ("close-chrome", "keepalive-chrome") if w in wl] or wl[:1])
        chart_ladder(cells, outdir / f"survey-ladder{suffix}.png")
    except ImportError as e:
        print(f"survey: no charts ({e}); install python3-matplotlib")
    print(f"survey: wrote {outdir}/SURVEY{suffix}.md and charts")


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
    """`make demo`: the ladder's table on the console."""
    cells = Cells(data)
    wl = data["parameters"]["workloads"]
    rts = [r for r in ("cpython", "pypy") if r in data["parameters"]["runtimes"]]
    out = [survey_text(data), "", "The cost ladder (server CPU µs per request, medians):"]
    cols = [(r, w) for r in rts for w in wl]
    head = "".join(f"{RT[r].split()[0] + ' ' + w:>26}" for r, w in cols)
    out.append(f"{'step':64}{head}")
    rows = [(f"{step}  {desc}", key, r_) for step, key, desc in LADDER_ROWS for r_ in [None]]
    rows.append(("4  anvil-native hello (the C++ binary, no Python)", "anvil-native", "native"))
    for label, key, fixed in rows:
        vals = [cells.value(key, fixed or r, w, "cpu_per_request_us") for r, w in cols]
        if any(v is not None for v in vals):  # a server the run left out is not a row
            out.append(f"{label:64}" + "".join(f"{_fmt(v, 1):>26}" for v in vals))
    out.append("")
    for r in rts:
        for w in wl:
            _, diffs = ladder_steps(cells, r, w)
            out.append(f"{RT[r]}, {WORKLOAD_LABELS[w]}: " + "; ".join(
                f"{k} {_fmt(v, 1)} µs" for k, v in diffs.items()))
    return "\n".join(out)
