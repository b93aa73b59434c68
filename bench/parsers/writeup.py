"""PARSERS.md, the charts and the README section of the parser shoot-out,
from parsers.json (bench/parsers/run.py writes it; `run.py --report-only`
rewrites these from it).
"""

import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import classes  # noqa: E402
import compare  # noqa: E402
import corpus  # noqa: E402

RT = {"cpython": "CPython 3.11", "pypy": "PyPy 3.9", "c": "C/C++"}
WORKLOAD_ORDER = ["chrome-2013", "chrome-2025", "ab", "curl", "cookie-4k", "chunked-post"]
SURVEY_JSON = os.path.join(ROOT, "bench", "results", "survey.json")
# The survey's threshold for "quite a bit of work" (SURVEY.md, the claims).
THRESHOLD = 0.10
# Survey servers whose parser is one of parsers_c's contenders (it runs in
# C++ whatever the interpreter), and those whose parser cannot be driven.
C_PARSER_OF = {"anvil-fast": "anvil-fast", "anvil-llhttp": "anvil-llhttp",
               "anvil-pynative": "anvil-fast", "anvil-native": "anvil-fast"}
NO_PARSER = {"uwsgi": "uWSGI's parser is compiled into the uwsgi binary",
             "nginx": "nginx's parser is compiled into nginx",
             "apache": "Apache's parser is compiled into httpd",
             "cyclone": "not available (no Debian package)"}
MARK = ("<!-- parsers:begin -->", "<!-- parsers:end -->")


# --- the data ------------------------------------------------------------------

class Results:
    """parsers.json with lookups: rows are (name, runtime) for the Python
    parsers and (name, "c") for parsers_c's contenders."""

    def __init__(self, doc):
        self.doc = doc
        self.drivers = {d["name"]: d for d in doc["drivers"]}
        self.python = {(r["parser"], r["runtime"]): r for r in doc["python"]}
        c = doc.get("c") or {}
        self.c_unavailable = c.get("unavailable")
        self.c = {p["name"]: p for p in c.get("parsers", [])}
        names = set()
        for r in doc["python"]:
            names.update(r.get("speed", {}))
        for p in self.c.values():
            names.update(p.get("speed", {}))
        self.workloads = [w for w in WORKLOAD_ORDER if w in names] + sorted(
            names - set(WORKLOAD_ORDER))
        self.runtimes = [rt for rt in ("cpython", "pypy")
                         if any(k[1] == rt for k in self.python)]

    def label(self, name):
        if name in self.drivers:
            return self.drivers[name]["label"]
        return self.c[name]["label"] if name in self.c else name

    def speed(self, name, runtime, workload):
        if runtime == "c":
            return self.c.get(name, {}).get("speed", {}).get(workload)
        return self.python.get((name, runtime), {}).get("speed", {}).get(workload)

    def median_ns(self, name, runtime, workload):
        s = self.speed(name, runtime, workload)
        return s.get("median_ns") if s else None

    def unavailable(self, name, runtime):
        r = self.python.get((name, runtime), {})
        return r.get("unavailable") or r.get("failed")

    def verdicts(self, name):
        """The outcomes of a matrix column: C verdicts, or the Python parser's
        on CPython (on PyPy where it does not import on CPython)."""
        if name in self.c:
            return self.c[name].get("verdicts", {})
        for rt in ("cpython", "pypy"):
            v = self.python.get((name, rt), {}).get("verdicts")
            if v:
                return v
        return None

    def matrix_columns(self):
        cols = [d for d in self.drivers if self.verdicts(d) is not None]
        return cols + [c for c in self.c if self.c[c].get("verdicts")]


def fmt_ns(x):
    return f"{x:,.0f}"


def speed_cell(s, with_range=True):
    if s is None:
        return ""
    if "error" in s:
        return "rejects it"
    text = fmt_ns(s["median_ns"])
    if with_range:
        text += f" ({fmt_ns(s['min_ns'])}–{fmt_ns(s['max_ns'])})"
    if s.get("note"):
        text += " †"
    return text


# --- the strictness matrix -----------------------------------------------------

def matrix(res, cases):
    """{column: {case name: (category, detail)}} over the compared cases."""
    out = {}
    for col in res.matrix_columns():
        verdicts = res.verdicts(col)
        one = res.drivers.get(col, {}).get("one_per_connection", False)
        row = {}
        for case in cases:
            v = verdicts.get(case.name)
            if v is None:
                continue
            got = [corpus.message_from_json(m) for m in v["messages"]]
            row[case.name] = compare.compare(case.messages, case.end, got, v["end"], one) + (
                v.get("detail", ""),)
        out[col] = row
    return out


def class_keys(cases):
    keys = []
    for c in cases:
        k = classes.class_of(c.name, c.file)
        if k not in keys:
            keys.append(k)
    order = [k for k, *_ in classes.CLASSES]
    return sorted(keys, key=lambda k: order.index(k) if k in order else len(order))


def _verdict_key(v):
    return (v["messages"], v["end"]) if v else None


def pypy_disagreements(res, cases):
    """(parser, case) where the PyPy run's outcome (messages and end; the
    reason's wording differs between the interpreters) differs from CPython's."""
    out = []
    for d in res.drivers:
        a = res.python.get((d, "cpython"), {}).get("verdicts")
        b = res.python.get((d, "pypy"), {}).get("verdicts")
        if not a or not b:
            continue
        out += [(d, c.name) for c in cases if _verdict_key(a.get(c.name)) != _verdict_key(
            b.get(c.name))]
    return out


# --- §5: the header-cost claim per server ----------------------------------------

def survey_cells():
    try:
        with open(SURVEY_JSON) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None, {}
    cells = {}
    for c in data.get("cells", []):
        if c.get("status") in ("ok", "errors") and c.get("summary"):
            cells[(c["server"], c["runtime"], c["workload"])] = c
    return data, cells


def survey_failures():
    """{(server, runtime): why} for the survey's servers that did not run there."""
    try:
        with open(SURVEY_JSON) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {(c["server"], c["runtime"]): f"{c['status']} in the survey: {c.get('error') or ''}"
            for c in data.get("cells", []) if c.get("status") in ("failed", "not available")}


def server_claims(res):
    """Rows: per survey server and runtime, its parser's cost on chrome-2013 and
    ab against the server's CPU per request in the survey."""
    data, cells = survey_cells()
    if data is None:
        return None, []
    parser_of = {}
    for name, d in res.drivers.items():
        for s in d["servers"]:
            parser_of[s] = name
    rows = []
    failures = survey_failures()
    for key in data["parameters"]["servers"]:
        runtimes = sorted({rt for (s, rt, _) in cells if s == key},
                          key=lambda r: ("cpython", "pypy", "native").index(r))
        for (s, rt), why in failures.items():
            if s == key and key not in NO_PARSER and rt not in runtimes:
                rows.append({"server": key, "runtime": rt, "note": why,
                             "label": next((c["label"] for (k, _, _), c in cells.items()
                                            if k == key), key)})
        label = next((c["label"] for (s, _, _), c in cells.items() if s == key), key)
        if key in NO_PARSER or not runtimes:
            rows.append({"server": key, "label": label, "runtime": None,
                         "note": NO_PARSER.get(key, "no figures in the survey")})
            continue
        for rt in runtimes:
            if key in C_PARSER_OF:
                parser, prt = C_PARSER_OF[key], "c"
            elif key in parser_of and rt in ("cpython", "pypy"):
                parser, prt = parser_of[key], rt
            else:
                rows.append({"server": key, "label": label, "runtime": rt,
                             "note": "its parser is not driven by this harness"})
                continue
            row = {"server": key, "label": label, "runtime": rt, "parser": parser,
                   "parser_runtime": prt, "shares": {}}
            for workload, profile in (("chrome-2013", "chrome"), ("ab", "ab")):
                ns = res.median_ns(parser, prt, workload)
                for mode in ("close", "keepalive"):
                    cell = cells.get((key, rt, f"{mode}-{profile}"))
                    cpu = cell["summary"]["cpu_per_request_us"]["median"] if cell else None
                    share = ns / 1000 / cpu if ns and cpu else None
                    row["shares"][(workload, mode)] = (ns, cpu, share)
            unav = res.unavailable(parser, prt) if prt != "c" else None
            if unav:
                row["note"] = unav
            rows.append(row)
    return data, rows


def verdict_text(share):
    if share is None:
        return "n/a"
    return ("**yes**" if share >= THRESHOLD else "no") + f" ({share * 100:.1f}%)"


# --- charts ----------------------------------------------------------------------

def chart_speed(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(n, rt) for n in res.drivers for rt in res.runtimes] + [(n, "c") for n in res.c]
    rows = [r for r in rows if res.median_ns(*r, "chrome-2013") or res.median_ns(*r, "ab")]
    colors = {"cpython": "#3572A5", "pypy": "#E8A33D", "c": "#6b6b6b"}
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.32 * len(rows) + 1.8), sharey=True)
    for ax, w in zip(axes, ("chrome-2013", "ab")):
        for i, (n, rt) in enumerate(rows):
            s = res.speed(n, rt, w)
            if not s or "median_ns" not in s:
                ax.text(1, i, "rejects it" if s else "n/a", va="center", fontsize=7)
                continue
            v = s["median_ns"]
            ax.barh(i, v, color=colors[rt],
                    xerr=[[v - s["min_ns"]], [s["max_ns"] - v]], error_kw={"elinewidth": 0.7})
            ax.text(s["max_ns"] * 1.05, i, fmt_ns(v), va="center", fontsize=7)
        ax.set_xscale("log")
        ax.set_title(f"{w}: ns per request (median, min–max; log scale)", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels([f"{res.label(n)} · {RT[rt]}" for n, rt in rows], fontsize=8)
    axes[0].invert_yaxis()
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[k]) for k in ("cpython", "pypy", "c")]
    axes[1].legend(handles, [RT[k] for k in ("cpython", "pypy", "c")], fontsize=8,
                   loc="lower right")
    fig.text(0.99, 0.005, footer(res.doc), ha="right", fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart_matrix(res, cases, m, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = class_keys(cases)
    cols = list(m)
    grid = []
    notes = []
    for k in keys:
        names = [c.name for c in cases if classes.class_of(c.name, c.file) == k]
        row, note = [], []
        for col in cols:
            cats = [m[col][n][0] for n in names if n in m[col]]
            bad = sum(c in compare.LETS_THROUGH for c in cats)
            stricter = sum(c == "rejects" for c in cats)
            hang = sum(c in ("hang", "waits") for c in cats)
            row.append(bad / len(cats) if cats else float("nan"))
            text = f"{bad}/{len(cats)}" if cats else ""
            if stricter:
                text += f"\nr{stricter}"
            if hang:
                text += f" w{hang}"
            note.append(text)
        grid.append(row)
        notes.append(note)
    fig, ax = plt.subplots(figsize=(1.05 * len(cols) + 4, 0.42 * len(keys) + 2.4))
    im = ax.imshow(grid, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i in range(len(keys)):
        for j in range(len(cols)):
            ax.text(j, i, notes[i][j], ha="center", va="center", fontsize=6.5,
                    color="white" if grid[i][j] > 0.6 else "black")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([res.label(c) for c in cols], rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([classes.label_of(k) for k in keys], fontsize=8)
    ax.set_title("Which parsers let a case through? Share of each class's cases that a parser "
                 "accepts where anvil rejects, or frames differently\n(n/m: such cases of the "
                 "class; r: rejects what anvil accepts; w: waits or hangs)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    fig.text(0.99, 0.005, footer(res.doc), ha="right", fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- text ------------------------------------------------------------------------

def footer(doc):
    m = doc["machine"]
    return (f"{'QUICK run · ' if doc.get('quick') else ''}{m['cpu_model']}, {m['cores']} cores, "
            f"pinned to CPU {m['pinned_cpu']} · {m['date'][:16]} UTC · git {m['git_commit']} · "
            f"load {m['load_average_at_start'][0]}")


def header_lines(res):
    doc = res.doc
    m = doc["machine"]
    quick = "**Quick run** (short runs and warm-ups; not for citing). " if doc.get("quick") else ""
    load = ", ".join(map(str, m["load_average_at_start"]))
    load_end = ", ".join(map(str, m.get("load_average_at_end", [])))
    lines = [f"{quick}{m['cpu_model']}, {m['cores']} cores, Linux {m['kernel']}; every parser "
             f"pinned to CPU {m['pinned_cpu']} (taskset); {m['date'][:16].replace('T', ' ')} UTC; "
             f"commit {m['git_commit']}; load average {load} at the start, {load_end} at the end; "
             f"{doc.get('elapsed_s', '?')} s."]
    timing = next((r["timing"] for r in doc["python"] if "timing" in r), None)
    caps = {r["runtime"]: r["timing"]["warmup_cap_s"] for r in doc["python"] if "timing" in r}
    if timing:
        # The rule changed from three batches ((max - min) / min) to bench/measure's
        # two (of the smaller); a parsers.json says which one it ran with.
        two = timing.get("warmup_rule") == "measure.warmup"
        rule, least = ("two agree", "two") if two else ("three agree ((max − min) / min)", "three")
        fresh = ("Each parser runs in a fresh interpreter per runtime (a quick run times its "
                 "request files in that one process)." if doc.get("quick") else
                 "Each parser runs in a fresh interpreter for each request file (a JIT trace "
                 "specialised to one request's shape is not carried into the next).")
        lines.append(
            f"ns per request: CPU time of the measuring thread (`{timing['clock']}`; "
            f"`CLOCK_THREAD_CPUTIME_ID` in parsers_c), the median of {timing['runs']} runs of "
            f"about {timing['run_s']} s each, (min–max). {fresh} Warm-up, on both runtimes: "
            f"batches of calls until the last {rule} within {timing['stable_spread']:.0%}, "
            f"at least {least}, up to {caps.get('cpython', '?')} s of batches on CPython and "
            f"{caps.get('pypy', '?')} s on PyPy (the JIT's warm-up); the batch size is "
            f"calibrated again after each.")
    return lines


def warmup_lines(res):
    unstable, batches = [], {"cpython": [], "pypy": []}
    for r in res.doc["python"]:
        for w, s in r.get("speed", {}).items():
            wu = s.get("warmup")
            if not wu:
                continue
            batches[r["runtime"]].append(wu["cpu_s"])
            if not wu["stable"]:
                unstable.append(f"{r['parser']} on {RT[r['runtime']]}, {w}")
    out = []
    for rt, v in batches.items():
        if v:
            out.append(f"{RT[rt]}: warm-up {statistics.median(v):.2f} s of CPU per cell "
                       f"(median; max {max(v):.2f} s).")
    if unstable:
        out.append("Not stable within the cap (their figures carry more noise): "
                   + "; ".join(unstable) + ".")
    return out


def speed_table(res, runtime, workloads, with_range=True):
    names = list(res.drivers) if runtime != "c" else list(res.c)
    head = "| parser | " + " | ".join(workloads) + " |"
    lines = [head, "|---|" + "--:|" * len(workloads)]
    for n in names:
        unav = res.unavailable(n, runtime) if runtime != "c" else None
        if unav:
            lines.append(f"| {res.label(n)} | not available: {unav} |"
                         + " |" * (len(workloads) - 1))
            continue
        cells = [speed_cell(res.speed(n, runtime, w), with_range) for w in workloads]
        lines.append(f"| {res.label(n)} | " + " | ".join(cells) + " |")
    return lines


def speed_notes(res):
    out = []
    for r in res.doc["python"]:
        for w, s in r.get("speed", {}).items():
            if s.get("error"):
                out.append(f"{res.label(r['parser'])} ({RT[r['runtime']]}) rejects {w}: "
                           f"`{s['error']}`")
            elif s.get("note"):
                out.append(f"† {res.label(r['parser'])} ({RT[r['runtime']]}), {w}: {s['note']}")
    for n, p in res.c.items():
        for w, s in p.get("speed", {}).items():
            if s.get("error"):
                out.append(f"{res.label(n)} rejects {w}: {s['error']}")
    return sorted(set(out))


def crossing_table(res):
    """anvil.parser kind from Python minus the same plug-in in C++."""
    kinds = [n.split(" ", 1)[1] for n in res.drivers if n.startswith("anvil.parser ")]
    lines = ["| from Python, minus the same plug-in in C++ | " + " | ".join(res.workloads) + " |",
             "|---|" + "--:|" * len(res.workloads)]
    for kind in kinds:
        for rt in res.runtimes:
            cells = []
            for w in res.workloads:
                py = res.median_ns(f"anvil.parser {kind}", rt, w)
                c = res.median_ns(f"anvil-{kind}", "c", w)
                cells.append(f"{fmt_ns(py - c)} ({py / c:.0f}x)" if py and c else "")
            lines.append(f"| {kind}, {RT[rt]} | " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def unavailable_lines(res):
    out = []
    for (n, rt), r in sorted(res.python.items()):
        if r.get("unavailable") or r.get("failed"):
            out.append(f"- {res.label(n)} on {RT[rt]}: {r.get('unavailable') or r.get('failed')}")
    if res.c_unavailable:
        out.append(f"- the C parsers (parsers_c): {res.c_unavailable}")
    for name, why in res.doc.get("not_available", {}).items():
        out.append(f"- {name}: {why}")
    return out


def claims_table(res):
    data, rows = server_claims(res)
    if data is None:
        return ["(bench/results/survey.json is missing: run `make survey` first.)"]
    lines = ["| server | runtime | its parser | parse chrome-2013 | CPU/req new conn. | share | "
             "CPU/req keep-alive | share | parse ab | CPU/req new conn. | share | "
             "CPU/req keep-alive | share |",
             "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        rt = RT.get(r["runtime"], "no Python") if r["runtime"] else ""
        if "parser" not in r:
            lines.append(f"| {r['label']} | {rt} | {r['note']} |" + " |" * 10)
            continue
        plabel = res.label(r["parser"]) + (" (C++)" if r["parser_runtime"] == "c" else "")
        cells = []
        for workload in ("chrome-2013", "ab"):
            ns = r["shares"][(workload, "close")][0]
            cells.append(f"{ns / 1000:.1f} µs" if ns else "n/a")
            for mode in ("close", "keepalive"):
                _, cpu, share = r["shares"][(workload, mode)]
                cells.append(f"{cpu:.1f} µs" if cpu else "n/a")
                cells.append(verdict_text(share) if cpu else "")
        lines.append(f"| {r['label']} | {rt} | {plabel} | " + " | ".join(cells) + " |")
    return lines


def claims_summary(res):
    """One line per runtime: on chrome-2013, for how many of the Python servers
    parsing is >= THRESHOLD of the CPU per request, per survey workload."""
    data, rows = server_claims(res)
    if data is None:
        return []
    out = []
    for rt in ("cpython", "pypy"):
        parts = []
        for mode, words in (("close", "a new connection per request"),
                            ("keepalive", "keep-alive")):
            yes, no = [], []
            for r in rows:
                if r.get("runtime") != rt or "parser" not in r or r["parser_runtime"] == "c":
                    continue
                share = r["shares"][("chrome-2013", mode)][2]
                if share is not None:
                    (yes if share >= THRESHOLD else no).append(f"{r['label']} {share * 100:.1f}%")
            if yes or no:
                parts.append(f"with {words}, for {len(yes)} of {len(yes) + len(no)} Python "
                             f"servers" + (f" ({', '.join(yes)})" if yes else "")
                             + (f"; below it: {', '.join(no)}" if no else ""))
        if parts:
            out.append(f"- {RT[rt]}, chrome-2013: parsing is ≥ {THRESHOLD:.0%} of the CPU per "
                       "request " + "; ".join(parts) + ".")
    for name in dict.fromkeys(C_PARSER_OF.values()):
        ns = res.median_ns(name, "c", "chrome-2013")
        shares = [r["shares"][("chrome-2013", mode)][2] for r in rows
                  if r.get("parser") == name for mode in ("close", "keepalive")]
        shares = [x for x in shares if x is not None]
        if ns and shares:
            out.append(f"- `{name}` (C++, the parser of anvil's own servers) takes {ns:,.0f} ns "
                       f"on chrome-2013: at most {max(shares) * 100:.1f}% of those servers' "
                       "CPU per request in the survey.")
    return out


def matrix_summary_table(res, cases, m):
    lines = ["| parser | " + " | ".join(compare.CATEGORIES) + " |",
             "|---|" + "--:|" * len(compare.CATEGORIES)]
    for col in m:
        counts = {c: 0 for c in compare.CATEGORIES}
        for cat, *_ in m[col].values():
            counts[cat] += 1
        lines.append(f"| {res.label(col)} | " + " | ".join(
            str(counts[c]) if counts[c] else "" for c in compare.CATEGORIES) + " |")
    return lines


def class_table(res, cases, m):
    keys = class_keys(cases)
    cols = list(m)
    lines = ["| case class (cases) | " + " | ".join(res.label(c) for c in cols) + " |",
             "|---|" + "--:|" * len(cols)]
    for k in keys:
        names = [c.name for c in cases if classes.class_of(c.name, c.file) == k]
        cells = []
        for col in cols:
            cats = [m[col][n][0] for n in names if n in m[col]]
            bad = sum(c in compare.LETS_THROUGH for c in cats)
            r = sum(c == "rejects" for c in cats)
            w = sum(c in ("waits", "hang") for c in cats)
            text = f"**{bad}**" if bad else "·"
            text += f" r{r}" if r else ""
            text += f" w{w}" if w else ""
            cells.append(text)
        lines.append(f"| {classes.label_of(k)} ({len(names)}) | " + " | ".join(cells) + " |")
    return lines


# Classes whose cases are limits or flags, not rules: not listed as findings.
NOT_RULES = ("limits", "flags")
# Classes where what an accepting parser delivers (how long a body) tells how
# it framed the bytes: shown beside each case.
FRAMING_CLASSES = ("cl_te", "te_http10", "te_coding", "cl_value", "pipelining", "obs_fold")


def rules_table(cases):
    lines = ["| class | the rule | letting a case of it through |", "|---|---|---|"]
    for k in class_keys(cases):
        if k not in NOT_RULES:
            lines.append(f"| {classes.label_of(k)} | {classes.rule_of(k)} | "
                         f"{classes.takes_of(k)} |")
    return lines


def findings(res, cases, m):
    """Per parser: the cases it lets through, by class (the rules are in rules_table)."""
    by_name = {c.name: c for c in cases}
    out = []
    for col in m:
        through = [(n, cat, what) for n, (cat, what, _) in m[col].items()
                   if cat in compare.LETS_THROUGH
                   and classes.class_of(n, by_name[n].file) not in NOT_RULES]
        hangs = [n for n, (cat, *_rest) in m[col].items() if cat == "hang"]
        if not through and not hangs:
            out.append(f"- **{res.label(col)}**: none.")
            continue
        groups = {}
        for n, cat, what in through:
            k = classes.class_of(n, by_name[n].file)
            if cat == "differs":
                what = f" (frames it differently: {what})"
            else:
                what = f" ({what})" if k in FRAMING_CLASSES else ""
            groups.setdefault(k, []).append(f"`{n}`{what}")
        parts = [f"- **{res.label(col)}**: {len(through)} case(s)."]
        for k in class_keys([by_name[n] for n, *_ in through]):
            parts.append(f"  - *{classes.label_of(k)}* ({len(groups[k])}): "
                         + ", ".join(groups[k]) + ".")
        if hangs:
            parts.append(f"  - *hangs* (a busy loop at the end of the input, stopped after "
                         f"{hang_limit(res)} s of CPU; a real connection that ends there spins "
                         "until the server's own timeout): "
                         + ", ".join(f"`{n}`" for n in hangs) + ".")
        out.append("\n".join(parts))
    return out


def hang_limit(res):
    return next((r["timing"].get("hang_cpu_s") for r in res.doc["python"] if "timing" in r), "?")


def case_table(res, cases, m):
    cols = list(m)
    short = {"same": "·", "accepts": "**A**", "differs": "**F**", "truncates": "T",
             "rejects": "R", "stops": "S", "waits": "W", "hang": "**H**", "error": "E"}
    lines = ["| case | anvil | " + " | ".join(res.label(c) for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for c in cases:
        verdict = (f"{len(c.messages)} msg" + ("" if c.end == "ok" else f", {c.end}"
                                               + (f" {c.status}" if c.status else "")))
        cells = [short[m[col][c.name][0]] if c.name in m[col] else "" for col in cols]
        lines.append(f"| `{c.name}` | {verdict} | " + " | ".join(cells) + " |")
    return lines


# --- writing ---------------------------------------------------------------------

def compared_cases():
    all_cases = corpus.load(os.path.join(ROOT, "tests", "parser", "cases"))
    cases = [c for c in all_cases if corpus.excluded(c) is None]
    left_out = {}
    for c in all_cases:
        why = corpus.excluded(c)
        if why:
            key = why.split(" (")[0]
            left_out[key] = left_out.get(key, 0) + 1
    return cases, left_out


def markdown(res):
    doc = res.doc
    cases, left_out = compared_cases()
    m = matrix(res, cases)
    w = res.workloads
    out = ["# The parser shoot-out", "",
           "Every parser the surveyed servers use, driven through its own server's code on the "
           "same request bytes (`bench/requests/`), and the project's corpus of malformed and "
           "smuggling requests (`tests/parser/cases/`) through each of them. "
           "`make parsers` writes this file (`bench/parsers/`, described in its README).", ""]
    out += header_lines(res) + [""] + warmup_lines(res) + [""]
    out += ["## ns per request", ""]
    for rt in res.runtimes:
        out += [f"### {RT[rt]}", ""] + speed_table(res, rt, w) + [""]
    if res.c:
        out += ["### C and C++ (parsers_c, no Python)", ""] + speed_table(res, "c", w) + [""]
    notes = speed_notes(res)
    if notes:
        out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    cross = crossing_table(res)
    if cross:
        out += ["### The crossing: anvil's C++ parsers called from Python", "",
                "ns per request of `anvil.parser` (the binding on CPython, the packed form on "
                "PyPy, as `anvil.refserver` calls them) minus the same plug-in called from C++ "
                "in parsers_c: what building Python objects for the request costs, and the "
                "ratio of the two.", ""] + cross + [""]
    out += ["### How each parser is driven", ""]
    for d in doc["drivers"]:
        version = f" {d['version']}" if d.get("version") else ""
        out.append(f"- **{d['label']}** (`{d['package']}`{version}): {d['how']}.")
    for n, p in res.c.items():
        out.append(f"- **{p['label']}** ({p['version']}): {p['how']}.")
    out += ["", "Not measured, and why:", ""] + unavailable_lines(res) + [""]
    out += ["## Parsing against each server's CPU per request (the survey's claim)", "",
            "The 2013 survey said \"parsing HTTP headers is quite a bit of work\". For each "
            "server of the survey, its parser's cost on chrome-2013 and on ab (above) is set "
            "against that server's CPU time per request in the survey "
            "(`bench/results/survey.json`, the median of its runs; a new connection per request "
            "is the survey's workload, keep-alive is how SURVEY.md judged the claim). Threshold, "
            "the survey's: parsing is \"quite a bit of work\" when it is **≥ 10% of the CPU per "
            "request**. Servers whose parser runs in C++ (anvil) take the C++ figure on both "
            "runtimes.", ""]
    out += claims_summary(res) + [""] + claims_table(res) + [""]
    data, _ = survey_cells()
    if data:
        sm = data.get("machine", {})
        out += [f"The survey's figures: {data.get('label', data.get('matrix', ''))}; "
                f"{sm.get('date', '')[:10]}, commit {sm.get('git_commit', '?')}, load "
                f"{sm.get('load_average_at_start', ['?'])[0]} at its start. The two were "
                "measured on different runs: the shares are estimates, not ratios from one run.",
                ""]
    out += ["## The strictness matrix", "",
            f"{len(cases)} request cases of the corpus, each fed whole to every parser that can "
            "be driven to a verdict, then the end of the input; what the parser delivers "
            "(method, target, decoded body, number of messages) and how it ends is compared "
            "with anvil's verdict (the corpus's expected output). Left out: "
            + ", ".join(f"{n} {k}" for k, n in sorted(left_out.items())) + ". "
            "Categories (bench/parsers/compare.py): *same*; *accepts* (delivers where anvil "
            "rejects); *differs* (frames the bytes differently: another method, target, body "
            "or number of messages); *truncates* (takes the end of the input as the end of a "
            "message anvil still waits for); *rejects* (rejects what anvil accepts); *stops* (ends "
            "cleanly after fewer messages: it closed earlier); *waits* (still "
            "waiting for bytes where anvil has decided); *hang* (a busy loop, stopped after "
            f"{hang_limit(res)} s of CPU). A server that "
            "answers one request per connection (wsgiref) is compared on the first message "
            "only.", ""]
    dis = pypy_disagreements(res, cases)
    if any(r.get("verdicts") for r in res.doc["python"] if r["runtime"] == "pypy"):
        out.append("The Python parsers' verdicts are CPython's; on PyPy they are the same"
                   + (" except: " + ", ".join(f"{p} on `{c}`" for p, c in dis) if dis else "")
                   + ".")
    else:
        out.append("The Python parsers' verdicts are CPython's (this run took none on PyPy).")
    out += ["", "![the matrix](parsers-matrix.png)", ""]
    out += matrix_summary_table(res, cases, m) + [""]
    out += ["Per case class: how many cases a parser lets through (accepts or frames "
            "differently), r: how many it rejects that anvil accepts, w: waits or hangs.", ""]
    out += class_table(res, cases, m) + [""]
    out += ["### The rules behind the classes", "",
            "What each class of cases tests, and what a parser that lets such a case through "
            "does under the RFCs: some rules are MUSTs, some leave the recipient a choice that "
            "anvil does not take (it rejects), which is safe alone and a desync behind a front "
            "end that chose differently.", ""] + rules_table(cases) + [""]
    out += ["### Which servers' parsers let what through", "",
            "Per parser, the cases it accepts where anvil rejects, or frames differently "
            "(anvil's default limits and the connection options left out: they are not "
            "rules).", ""] + findings(res, cases, m) + [""]
    out += ["### Every case", "",
            "·: same; **A**: accepts; **F**: frames differently; T: truncates; R: rejects; "
            "S: stops reading earlier; W: waits; **H**: hangs; E: driver error.", "",
            f"<details><summary>{len(cases)} cases</summary>", ""]
    out += case_table(res, cases, m) + ["", "</details>", ""]
    return "\n".join(out), cases, m


def readme_section(res, cases, m):
    lines = [MARK[0], "", header_lines(res)[0], ""]
    for rt in res.runtimes:
        lines += [f"ns per request on {RT[rt]}, median of runs (min–max):", ""]
        lines += speed_table(res, rt, ["chrome-2013", "ab"]) + [""]
    if res.c:
        lines += ["The C and C++ parsers (no Python):", ""]
        lines += speed_table(res, "c", ["chrome-2013", "ab"]) + [""]
    lines += ["![ns per request](bench/results/parsers-speed.png)", "",
              "Parsing against each server's CPU per request in the survey (threshold ≥ 10%):",
              ""] + claims_summary(res) + ["",
              "The strictness matrix: per case class, how many cases a parser lets through "
              "(accepts where anvil rejects, or frames differently), r: rejects what anvil "
              "accepts, w: waits or hangs.", ""]
    lines += class_table(res, cases, m)
    lines += ["", "![the matrix](bench/results/parsers-matrix.png)", "",
              "All figures, the per-server table, the rules each parser breaks and every case: "
              "[`bench/results/PARSERS.md`](bench/results/PARSERS.md).", "", MARK[1]]
    return "\n".join(lines)


def replace_section(path, section):
    with open(path) as f:
        text = f.read()
    pattern = re.compile(re.escape(MARK[0]) + ".*?" + re.escape(MARK[1]), re.S)
    if not pattern.search(text):
        raise SystemExit(f"report: {path} has no {MARK[0]} ... {MARK[1]} section")
    text = pattern.sub(lambda _: section, text)
    with open(path, "w") as f:
        f.write(text)


def write(doc, out_dir, readme=None):
    res = Results(doc)
    text, cases, m = markdown(res)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "PARSERS.md"), "w") as f:
        f.write(text)
    chart_speed(res, os.path.join(out_dir, "parsers-speed.png"))
    chart_matrix(res, cases, m, os.path.join(out_dir, "parsers-matrix.png"))
    if readme:
        replace_section(readme, readme_section(res, cases, m))


def console(doc):
    res = Results(doc)
    lines = [footer(doc)]
    for rt in res.runtimes + (["c"] if res.c else []):
        lines.append(f"{RT[rt]}: ns per request, median")
        lines += speed_table(res, rt, res.workloads, with_range=False)
    return "\n".join(lines)
