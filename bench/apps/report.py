"""APPS.md, the latency charts, the README section and the console lines, from
apps.json's data. Every verdict is computed from the figures, with its
threshold printed beside it, so a rerun rewrites the text to match."""

import collections
import os
import statistics
from pathlib import Path

import matrix
import measure

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RT = matrix.RUNTIME_LABELS
RULE_APP_US = 2000.0   # the seed's rule of thumb: 500 req/s from one worker, 2 ms a request
RULE_SHARE = 0.25      # "the web server consumes less than 25% of the time"
KNEE_FACTOR = 10.0     # the knee: the highest rate whose p99 stays under 10x the low-load p99
CLIENT_BOUND = 0.9     # hammer's core this busy at a sweep step: the step measures the client too


# --- figures ----------------------------------------------------------------------------

def knee(sweep):
    """The highest offered rate whose p99 (median of the runs) stays under
    KNEE_FACTOR x the p99 at the lowest rate, scanning up from the lowest."""
    first = (sweep[0]["summary"].get("p99_us") or {}).get("median")
    if not first:
        return None
    limit = KNEE_FACTOR * first
    best, crossed = None, None
    for step in sweep:
        p99 = (step["summary"].get("p99_us") or {}).get("median")
        if p99 is None or p99 >= limit:
            crossed = step
            break
        best = step
    return {"low_load_p99_us": first, "limit_us": round(limit, 1),
            "rate_per_s": best["offered_per_s"] if best else None,
            "fraction": best["fraction"] if best else None,
            "crossed_at_fraction": crossed["fraction"] if crossed else None}


def client_busy(step):
    """How busy hammer's own core was at a sweep step: the rate it reached x
    its CPU per request (medians of the runs); None where not recorded."""
    s = step["summary"]
    rate = (s.get("requests_per_s") or {}).get("median")
    cpu = (s.get("client_cpu_per_request_us") or {}).get("median")
    return rate * cpu / 1e6 if rate and cpu else None


def client_bound(step):
    busy = client_busy(step)
    return busy is not None and busy >= CLIENT_BOUND


def knee_client_bound(cell):
    """Whether the cell's knee is crossed at a client-bound step."""
    crossed = (cell.get("knee") or {}).get("crossed_at_fraction")
    return any(client_bound(st) for st in cell.get("sweep") or [] if st["fraction"] == crossed)


def med(cell, key):
    s = (cell.get("summary") or {}).get(key)
    return s["median"] if s else None


def measured(cell):
    return cell["status"] in ("ok", "errors") and cell.get("summary", {}).get("server_us")


def _fmt(v, digits=1):
    return "—" if v is None else f"{v:,.{digits}f}"


def _stat(cell, key, digits=1, scale=1.0):
    s = (cell.get("summary") or {}).get(key)
    if not s:
        return "—"
    return (f"{s['median'] * scale:,.{digits}f} ({s['min'] * scale:,.{digits}f}–"
            f"{s['max'] * scale:,.{digits}f})")


def _pct(v):
    return "—" if v is None else f"{v:.0%}" if v >= 0.1 else f"{v:.1%}"


class Data:
    def __init__(self, data):
        self.data = data
        self.cells = data["cells"]
        self.apps = list(data["apps"])
        self.by = {(c["app"], c["server"], c["runtime"]): c for c in self.cells}

    def server_label(self, key):
        return self.data["servers"][key]["label"]

    def rows(self):
        """(server, runtime) pairs in the matrix's order, as measured."""
        seen = []
        for rt in self.data["runtimes"]:
            for s in matrix.SERVERS:
                if any(c["server"] == s.key and c["runtime"] == rt for c in self.cells):
                    seen.append((s.key, rt))
        return seen


# --- the rule of thumb ------------------------------------------------------------------

def rule(d, server, runtime):
    """The server's overhead against a 2 ms app: the largest overhead it
    showed over the apps, the share it would take, and the verdict."""
    over, unsettled = {}, set()
    for app in d.apps:
        c = d.by.get((app, server, runtime))
        if c and measured(c):
            over[app] = med(c, "server_us")
            if not (c.get("warmup") or {}).get("settled", True):
                unsettled.add(app)
    if not over:
        return None
    worst_app = max(over, key=over.get)
    o = over[worst_app]
    share = r_share(o)
    return {"overheads": over, "unsettled": unsettled, "worst_app": worst_app, "overhead_us": o,
            "share_at_2ms": share, "share_of_2ms": o / RULE_APP_US,
            "holds": share < RULE_SHARE, "break_even_app_us": o * (1 - RULE_SHARE) / RULE_SHARE}


def r_share(overhead_us):
    """The server's share of a request to a 2 ms app, given its overhead."""
    return overhead_us / (overhead_us + RULE_APP_US)


def verdict_text(d):
    rows = [(s, rt, rule(d, s, rt)) for s, rt in d.rows()]
    rows = [r for r in rows if r[2]]
    if not rows:
        return "No server was measured."
    held = [r for r in rows if r[2]["holds"]]
    worst = max(rows, key=lambda r: r[2]["overhead_us"])
    w = worst[2]
    text = (f"Against an app that takes 2 ms of CPU per request (500 req/s from one worker), "
            f"judged with the largest overhead each server showed next to any of the apps, "
            f"**{len(held)} of {len(rows)}** server × runtime pairs take less than 25% of the "
            f"time. The largest is {w['overhead_us']:.0f} µs ({d.server_label(worst[0])} on "
            f"{RT[worst[1]]}, next to {w['worst_app']}): {w['share_at_2ms']:.0%} of a 2 ms "
            f"app's request; it stays under 25% next to apps of {w['break_even_app_us']:,.0f} µs "
            f"of CPU or more ({1e6 / (w['break_even_app_us'] + w['overhead_us']):,.0f} req/s "
            "per worker or fewer).")
    failing = [r for r in rows if not r[2]["holds"]]
    if failing:
        text += " It does not hold for: " + ", ".join(
            f"{d.server_label(s)} on {RT[rt]} ({r['share_at_2ms']:.0%}"
            + (", warm-up not settled" if r["worst_app"] in r["unsettled"] else "") + ")"
            for s, rt, r in failing)
        text += "."
    else:
        runtimes = " and ".join(RT[rt] for rt in dict.fromkeys(rt for _, rt, _ in rows))
        text += f" **The rule of thumb holds for every server measured, on {runtimes}.**"
    floor = [(s, rt, r) for s, rt, r in rows if "hello" in r["overheads"]]
    if floor and failing:
        ok = [f for f in floor if r_share(f[2]["overheads"]["hello"]) < RULE_SHARE]
        text += (f" Judged with the overhead next to hello (the server at its cheapest), "
                 f"{len(ok)} of {len(floor)} do: the overhead grows next to a heavy app.")
    return text


def rule_table(d):
    lines = ["| server | runtime | " + " | ".join(f"overhead µs, {a}" for a in d.apps)
             + " | largest | share of a 2 ms app | < 25%? | app CPU where it reaches 25% |",
             "|---|---|" + "--:|" * (len(d.apps) + 4)]
    for s, rt in d.rows():
        r = rule(d, s, rt)
        if not r:
            continue
        cols = [_fmt(r["overheads"].get(a)) + ("†" if a in r["unsettled"] else "")
                for a in d.apps]
        lines.append(f"| {d.server_label(s)} | {RT[rt]} | " + " | ".join(cols)
                     + f" | {r['overhead_us']:.1f} | {r['share_at_2ms']:.1%} | "
                     f"{'yes' if r['holds'] else '**no**'} | {r['break_even_app_us']:,.0f} µs |")
    if any(rule(d, s, rt) and rule(d, s, rt)["unsettled"] for s, rt in d.rows()):
        lines += ["", "† the warm-up did not settle within its cap (the last two slices' CPU "
                  "per request more than 5% apart: on PyPy its JIT still compiling, on CPython "
                  "the machine's noise): on PyPy the figure overstates the warm overhead."]
    return "\n".join(lines)


# --- tables -----------------------------------------------------------------------------

def main_table(d, app):
    lines = ["| server | runtime | requests/s | CPU µs/request (server + app) | app µs | "
             "server overhead µs | server share | warm-up |",
             "|---|---|--:|--:|--:|--:|--:|---|"]
    for s, rt in d.rows():
        c = d.by.get((app, s, rt))
        if c is None:
            continue
        if not measured(c):
            lines.append(f"| {d.server_label(s)} | {RT[rt]} | {c['status']}: "
                         f"{(c.get('error') or '')[:90]} | | | | | |")
            continue
        w = c.get("warmup") or {}
        warm = (f"{len(w.get('slices', []))} slices"
                + ("" if w.get("settled") else ", **not settled**"))
        err = f" ⚠ {c['summary']['errors']} errors" if c["summary"]["errors"] else ""
        lines.append(
            f"| {d.server_label(s)} | {RT[rt]} | {_stat(c, 'requests_per_s', 0)}{err} | "
            f"{_stat(c, 'schedstat_per_request_us')} | {_stat(c, 'app_us')} | "
            f"{_stat(c, 'server_us')} | {_pct(med(c, 'server_share'))} | {warm} |")
    return "\n".join(lines)


def compact_table(d):
    """server x runtime rows; per app: server overhead µs (server share)."""
    lines = ["| server | runtime | " + " | ".join(d.data["apps"][a]["label"] for a in d.apps)
             + " |", "|---|---|" + "--:|" * len(d.apps)]
    for s, rt in d.rows():
        cols = []
        for a in d.apps:
            c = d.by.get((a, s, rt))
            if c is None:
                cols.append("")
            elif measured(c):
                cols.append(f"{med(c, 'schedstat_per_request_us'):.0f} µs: server "
                            f"{med(c, 'server_us'):.0f} µs ({_pct(med(c, 'server_share'))})")
            else:
                cols.append("n/a" if c["status"] == "not available" else c["status"])
        lines.append(f"| {d.server_label(s)} | {RT[rt]} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def latency_table(d, app, runtime):
    cells = [d.by.get((app, s, rt)) for s, rt in d.rows() if rt == runtime]
    cells = [c for c in cells if c and c.get("sweep")]
    if not cells:
        return ""
    fractions = [st["fraction"] for st in cells[0]["sweep"]]
    lines = ["| server | max req/s | knee | CPU µs/req at 10% → 100% | "
             + " | ".join(f"{f:.0%}" for f in fractions) + " |",
             "|---|--:|--:|--:|" + "--:|" * len(fractions)]
    for c in cells:
        k = c.get("knee") or {}
        knee_text = (f"{k['rate_per_s']:,.0f}/s ({k['fraction']:.0%})" if k.get("rate_per_s")
                     else "below 10%")
        if knee_client_bound(c):
            knee_text += " ᶜ"
        cols = []
        for st in c["sweep"]:
            s = st["summary"]
            vals = [(s.get(p) or {}).get("median") for p in ("p50_us", "p99_us", "p999_us")]
            text = " / ".join(_ms(v) for v in vals)
            if st["errors"]:
                text += f" ⚠{st['errors']}"
            if client_bound(st):
                text += " ᶜ"
            cols.append(text)
        cpu = {st["fraction"]: (st["summary"].get("schedstat_per_request_us") or {}).get("median")
               for st in c["sweep"]}
        cpu_text = f"{_fmt(cpu.get(fractions[0]), 0)} → {_fmt(cpu.get(1.0), 0)}"
        lines.append(f"| {c['label']} | {c['max_rate']:,.0f} | {knee_text} | {cpu_text} | "
                     + " | ".join(cols) + " |")
    return "\n".join(lines)


def client_bound_text(d):
    """Names the cells whose knee is crossed where hammer's core was saturated."""
    bound = [f"{d.data['apps'][c['app']]['label']} on {c['label']}, {RT[c['runtime']]}"
             for c in d.cells if knee_client_bound(c)]
    if not bound:
        return ""
    return (f" Where the knee is crossed at a step at which hammer's own core was at least "
            f"{CLIENT_BOUND:.0%} busy, the curve measures the load generator as much as the "
            f"server (marked ᶜ in the tables): {'; '.join(bound)}.")


def _ms(us):
    if us is None:
        return "—"
    return f"{us / 1000:.2f}" if us < 100000 else f"{us / 1000:.0f}"


def failures(d):
    out = []
    for c in d.cells:
        what = f"{d.data['apps'][c['app']]['label']} on {c['label']}, {RT[c['runtime']]}"
        if c["status"] in ("failed", "not available"):
            tail = [ln for ln in (c.get("log_tail") or "").splitlines() if ln.strip()]
            last = f" (its log: `{tail[-1].strip()[:160]}`)" if tail else ""
            out.append(f"- {what}: **{c['status']}**: {c['error']}{last}")
        elif c["status"] == "errors":
            kinds = {}
            for r in c.get("runs", []):
                for k, v in (r.get("error_kinds") or {}).items():
                    kinds[k] = kinds.get(k, 0) + v
            out.append(f"- {what}: {c['summary']['errors']} client errors in the full-speed "
                       f"runs ({kinds})")
    out += [f"- {RT[rt]}, {d.server_label(s)}: **not measured yet** (the run was interrupted): "
            + ", ".join(d.data["apps"][a]["label"] for a in apps) for s, rt, apps in unmeasured(d)]
    return "\n".join(out) or "none"


def unmeasured(d):
    """(server, runtime, apps) the full matrix lists but an interrupted run has
    no cell for; `run.py --resume` measures them."""
    if d.data.get("complete") or d.data["matrix"] != "full":
        return []
    out = []
    for rt in d.data["runtimes"]:
        for key, s in d.data["servers"].items():
            apps = [a for a in d.apps if rt in s["runtimes"] and (a, key, rt) not in d.by]
            if apps:
                out.append((key, rt, apps))
    return out


def sittings(d):
    """The measuring time and the 1-min load averages, from the cells: a run
    resumed over several sittings keeps each cell's own (the header's machine
    block is the last sitting's)."""
    minutes = sum(sum((c.get("phases_s") or {}).values()) for c in d.cells) / 60
    loads = [c["load_average_at_start"][0] for c in d.cells if c.get("phases_s")
             and c.get("load_average_at_start")]
    end = (d.data.get("load_average_at_end") or [None])[0]
    if not loads:
        return f"{minutes:.1f} min of measuring"
    text = (f"{minutes:.1f} min of measuring; 1-min load average at the start of each cell "
            f"{statistics.median(loads):.2f} (median; {min(loads):.2f}–{max(loads):.2f})")
    return text + (f", {end:.2f} at the end" if end is not None else "")


def commits(d):
    """The commit each sitting's cells were measured at, when a resumed run
    mixes sittings: "" when every measured cell was measured at the header's."""
    last = d.data["machine"]["git_commit"]
    at = collections.Counter(c.get("commit") for c in d.cells if c.get("phases_s"))
    if set(at) <= {last}:
        return ""
    parts = [f"{n} at `{k}`" for k, n in sorted(at.items(), key=lambda kv: -kv[1]) if k]
    if at[None]:
        parts.append(f"{at[None]} in earlier sittings whose commit was not recorded")
    return f" (the last sitting's; of the cells measured, {', '.join(parts)})"


def header(d):
    m = d.data["machine"]
    p = d.data["parameters"]
    kind = {"quick": "**QUICK matrix** (`make apps QUICK=1`: fewer servers, short runs)",
            "reduced": "**REDUCED matrix** (not every app, server and runtime)",
            "full": "the full matrix"}[d.data["matrix"]]
    if not d.data.get("complete"):
        kind += ", **INCOMPLETE** (interrupted: the cells measured so far)"
    label = f" {d.data['label']}." if d.data.get("label") else ""
    mode = ("a new connection per request (chrome-2013's fields, `Connection: close`)"
            if p["mode"] == "close" else "keep-alive connections")
    return (f"{m['cpu_model']}, {m['cores']} cores, Linux {m['kernel']}; commit "
            f"`{m['git_commit']}`{commits(d)}, {m['date']}; {kind}.{label} {sittings(d)}. "
            f"Server pinned to core {p['server_cpu']}, hammer to core {p['client_cpu']}, "
            f"{p['connections']} connections, {mode}; {p['runs']} full-speed runs per cell and "
            f"{p['sweep_runs']} runs of each rate step, median (min–max).")


def method_text(d):
    clock = [med(c, "clock_us") for c in d.cells if measured(c)]
    clock_text = (f"{statistics.median(clock):.2f} µs (median over the cells)" if clock
                  else "not measured")
    return f"""How each cell is measured (`bench/apps/run.py`, with `bench/measure`): the
server starts and must answer the app's request with the right status and
body shape, and refuse a bad one (Flask 422, Django 404, Falcon 400). It is
then warmed up until the last two slices' CPU per request agree within 5%
(`measure.warm_up`, the one warm-up rule; PyPy's JIT needs it), measured at
full speed, swept by offered rate, and checked again.

- **CPU µs/request**: the server's whole process tree (`/proc/*/task/*/schedstat`,
  ns), over the requests answered: server and app together.
- **app µs**: the app's own CPU (`bench/apps/timing.py`: `time.thread_time_ns()`
  around the app call, iterating its body and `close()`, the same wrapper in
  every server), accumulated per worker in a memory-mapped file. A clock read
  costs {clock_text} here (a system call in this VM); the wrapper's two
  reads, one inside its window and one outside, are taken out of both sides.
  What the app calls of the server (`start_response`, `wsgi.input`) counts as
  app time, so the server's share is if anything understated.
- **server overhead** = CPU/request − app; **server share** = overhead / CPU/request.
  The overhead is not a constant of the server: it grows when the server runs
  cold, one request at a time. Next to a slow app (Django) each request finds
  the server's code and data evicted by the app's, and at a low offered rate
  every request wakes an idle process; the sweep's CPU per request at 10% and
  at 100% of the maximum (the latency tables) shows how much.
- **Latency**: `hammer --rate` at 10% to 120% of the cell's median full-speed
  rate, latency from each request's intended send time (coordinated omission
  corrected); p50 / p99 / p99.9 in ms. The **knee** is the highest offered rate
  whose p99 stays under {KNEE_FACTOR:g}x the p99 at the lowest rate."""


def app_sections(d, chart_dir=""):
    out = []
    for app in d.apps:
        info = d.data["apps"][app]
        out += [f"### {info['label']}", "", f"{info['note']}.", "", main_table(d, app), ""]
        for rt in d.data["runtimes"]:
            t = latency_table(d, app, rt)
            if t:
                counts = [r["requests"] for c in d.cells if c["app"] == app and c["runtime"] == rt
                          for st in c.get("sweep") or [] for r in st["runs"]]
                out += [f"Latency against offered load on {RT[rt]}, p50 / p99 / p99.9 in ms "
                        f"(median of the runs; ⚠ client errors; ᶜ client-bound: hammer's "
                        f"own core at least {CLIENT_BOUND:.0%} busy, so the latency there is "
                        f"the load generator's limit as much as the server's, and a knee "
                        f"marked ᶜ is crossed at such a step); {min(counts):,} to "
                        f"{max(counts):,} requests per run of a step (a p99.9 of fewer "
                        "than 1,000 is the slowest request, a p99 of fewer than 100 too):",
                        "", t, "",
                        f"![{info['label']} on {RT[rt]}]({chart_dir}{chart_name(app, rt)})", ""]
    return out


def apps_md(d):
    lines = ["# Real apps under load: the server's share and latency against offered load", "",
             header(d), "", method_text(d), "", "## The seed's rule of thumb, judged", "",
             "\"If you're getting (say) 500 req/s from a single worker on your website, then "
             "the web server consumes less than 25% of the time.\" Each server's overhead "
             "(CPU/request − app) per app; its largest, against an app of 2 ms of CPU: "
             "overhead / (overhead + 2 ms).", "", verdict_text(d), "", rule_table(d), "",
             "## CPU per request and the server's share", "", compact_table(d), ""]
    lines += app_sections(d)
    lines += ["## Failures, errors and what could not run", "", failures(d), "",
              "Raw figures: `apps.json` beside this file. Rerun: `make apps` "
              "(`QUICK=1` for the reduced matrix).", ""]
    return "\n".join(lines)


def readme_section(d):
    charts = [f"![{d.data['apps'][a]['label']} on {RT[rt]}](bench/results/{chart_name(a, rt)})"
              for a in d.apps for rt in d.data["runtimes"]
              if any(c.get("sweep") for c in d.cells if c["app"] == a and c["runtime"] == rt)]
    return "\n".join([
        header(d), "",
        "**The server's CPU per request next to the app's** (whole tree CPU per request: "
        "server overhead (share of the request)):", "", compact_table(d), "",
        "**The seed's rule of thumb** (\"500 req/s from a single worker: the web server "
        "consumes less than 25% of the time\"): " + verdict_text(d), "", rule_table(d), "",
        "**Latency against offered load** (p99, one line per server; the tables per step "
        "are in [`bench/results/APPS.md`](bench/results/APPS.md)):" + client_bound_text(d), "",
        *charts])


# --- charts -----------------------------------------------------------------------------

def chart_name(app, runtime):
    return f"apps-latency-{app}-{runtime}.png"


def charts(d, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogFormatter

    made = []
    for app in d.apps:
        for rt in d.data["runtimes"]:
            cells = [d.by.get((app, s, r)) for s, r in d.rows() if r == rt]
            cells = [c for c in cells if c and c.get("sweep")]
            if not cells:
                continue
            fig, ax = plt.subplots(figsize=(8, 5))
            for i, c in enumerate(cells):
                color = f"C{i % 10}"
                xs = [st["offered_per_s"] for st in c["sweep"]]
                p99 = [(st["summary"].get("p99_us") or {}) for st in c["sweep"]]
                ys = [s.get("median", float("nan")) / 1000 for s in p99]
                lo = [y - s.get("min", y * 1000) / 1000 for y, s in zip(ys, p99)]
                hi = [s.get("max", y * 1000) / 1000 - y for y, s in zip(ys, p99)]
                ax.errorbar(xs, ys, yerr=[lo, hi], color=color, marker="o", ms=3, capsize=2,
                            label=c["label"])
                k = c.get("knee") or {}
                if k.get("rate_per_s"):
                    y = next(y for x, y in zip(xs, ys) if x == k["rate_per_s"])
                    ax.plot([k["rate_per_s"]], [y], marker="D", ms=8, color=color,
                            markerfacecolor="none")
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):  # plain numbers; minor ones only on short spans
                axis.set_major_formatter(LogFormatter())
                axis.set_minor_formatter(LogFormatter(labelOnlyBase=False,
                                                      minor_thresholds=(2, 0.5)))
            ax.set_xlabel("offered rate (requests/s, log)")
            ax.set_ylabel("p99 latency (ms, log), corrected for coordinated omission")
            title = f"{d.data['apps'][app]['label']} on {RT[rt]}"
            if d.data["matrix"] != "full":
                load = d.data["machine"]["load_average_at_start"][0]
                title += f" ({d.data['matrix'].upper()}, load {load:.1f})"
            ax.set_title(title + "\n10% to 120% of each server's maximum; ◇ = knee", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            path = os.path.join(outdir, chart_name(app, rt))
            fig.savefig(path, dpi=100)
            plt.close(fig)
            made.append(path)
    return made


def write_all(data, outdir, readme=False):
    d = Data(data)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "APPS.md").write_text(apps_md(d))
    try:
        made = {os.path.basename(p) for p in charts(d, outdir)}
        for old in outdir.glob(chart_name("*", "*")):  # charts of cells this run has not
            if old.name not in made:
                old.unlink()
    except ImportError as e:
        print(f"apps: no charts ({e}); install python3-matplotlib")
    if readme:
        measure.write_section(README, "apps", readme_section(d))


# --- the console ------------------------------------------------------------------------

def cell_line(c, i, n, kept=False):
    what = f"[{i}/{n}] {c['app']} on {c['label']} [{RT[c['runtime']]}]"
    if kept:
        what += " (kept)"
    if not measured(c):
        return f"{what}: {c['status'].upper()}: {c.get('error')}"
    k = c.get("knee") or {}
    return (f"{what}: {med(c, 'requests_per_s'):.0f} req/s, "
            f"{med(c, 'schedstat_per_request_us'):.1f} us CPU/request of which app "
            f"{med(c, 'app_us'):.1f}, server {med(c, 'server_us'):.1f} "
            f"({_pct(med(c, 'server_share'))}); knee "
            f"{_fmt(k.get('rate_per_s'), 0)}/s; {c['summary']['errors']} errors ({c['wall_s']} s)")


def console_text(data):
    d = Data(data)
    return "\n".join([compact_table(d), "", verdict_text(d)])
