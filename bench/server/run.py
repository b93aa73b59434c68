#!/usr/bin/python3
"""make bench: server CPU time per request, anvil against the C and Python peers.

Every server serves the 13-byte hello app (or its native equivalent) and is
measured in the same run, pinned to core 0, with the client (hammer) on core
1, 40 concurrent connections, the chrome-2013 request, in two modes: a new
connection per request (the request as recorded, `Connection: close`) and
keep-alive (the same request without its Connection field). Each run: a
warm-up, then a counted run at full speed, then a counted run at one fixed
offered rate that every server sustains (the like-for-like figure). Each
configuration is repeated (default 3) and reported as median [min-max].

Writes bench/results/server.json (machine, date, commit, every raw run) and
the table between the `<!-- server:begin -->` / `<!-- server:end -->` markers
of bench/README.md. A server that fails is reported as failed, never left out.
"""

import argparse
import datetime
import json
import os
import signal
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
APPS = os.path.join(ROOT, "bench", "apps")  # hello.py
sys.path.insert(0, os.path.join(ROOT, "bench"))
import measure  # noqa: E402  bench/measure: servers, CPU of a tree, clients
BEGIN, END = "<!-- server:begin -->", "<!-- server:end -->"

MODES = {
    # name: (new connection per request, measured requests, warm-up requests)
    "close": (True, 20000, 2000),
    "keep-alive": (False, 60000, 6000),
}
QUICK_MODES = {"close": (True, 4000, 500), "keep-alive": (False, 10000, 1000)}
FIXED_RATE = 1000          # requests/s offered in the like-for-like runs (gunicorn and
                           # waitress sustain it on a busy 2-core machine)
FIXED_REQUESTS = 5000      # 5 s at FIXED_RATE
QUICK_FIXED_REQUESTS = 2000


def server_specs(build, python):
    """Every server of the comparison, by name (issue 3 §4)."""
    servers = measure.servers
    kw = {"env": {"PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "python"), APPS]),
                  "PYTHONDONTWRITEBYTECODE": "1"}, "cwd": APPS}
    specs = {}
    for parser in ("fast", "llhttp"):
        specs[f"anvil wsgi ({parser})"] = servers.anvil(
            python, "hello:app", name=f"anvil-{parser}", parser=parser, backlog=4096, **kw)
    specs["anvil-native hello"] = servers.anvil_native(build, "hello", backlog=4096)
    # uWSGI's --http-socket closes every connection, in both modes (its
    # --http11-socket keeps them, but one process then serves one connection
    # at a time: the other 39 wait, and time out).
    specs["uwsgi"] = servers.uwsgi(os.path.join(APPS, "hello.py"), "app", listen=4096)
    specs["gunicorn sync"] = servers.gunicorn(python, "hello:app", backlog=4096, **kw)
    specs["waitress"] = servers.waitress(python, "hello:app", backlog=4096, **kw)
    specs["nginx"] = servers.nginx(master=True, backlog=4096)
    # Ladder steps 1 and 2 (not in the default set; the survey measures them).
    for parser in ("python", "fast"):
        specs[f"refserver ({parser})"] = servers.refserver(
            python, "hello:app", name=f"refserver-{parser}", parser=parser, **kw)
    return specs


DEFAULT_SERVERS = ["anvil wsgi (fast)", "anvil wsgi (llhttp)", "anvil-native hello", "uwsgi",
                   "gunicorn sync", "waitress", "nginx"]


def run_one(spec, client_for, request_file, close, requests, warmup, fixed_requests, verify_req):
    server = measure.start_server(spec, cpu=0)
    try:
        measure.verify(server.host, server.port, verify_req)
        client = client_for(close)
        full = cpu_ticks(measure.counted_run(server, client, request_file, close, requests,
                                             warmup=warmup))
        fixed = None
        if isinstance(client, measure.Hammer):
            fixed = cpu_ticks(measure.counted_run(server, client, request_file, close,
                                                  fixed_requests, rate=FIXED_RATE))
        measure.verify(server.host, server.port, verify_req)  # still right after the load
        return {"full": full, "fixed": fixed}
    finally:
        rc = server.stop()
        if rc not in (0, 30, -signal.SIGTERM, -signal.SIGINT, None):  # uWSGI exits 30 on INT
            sys.stderr.write(f"  note: {spec.name} exited with {rc}\n")


def cpu_ticks(run):
    """This benchmark's CPU figure is the tick count (user+sys), with the
    schedstat figure beside it as the cross-check."""
    run["cpu_per_request_us"] = run["cpu_per_request_us_ticks"]
    return run


def stats(values):
    return measure.summarize(values, digits=2)


def summarize(runs, servers):
    summary = {}
    for mode in MODES:
        per = {}
        for name in servers:
            mine = [r for r in runs if r["server"] == name and r["mode"] == mode]
            ok = [r for r in mine if "error" not in r]
            entry = {
                "runs": len(mine), "failed": len(mine) - len(ok),
                "errors": [r["error"] for r in mine if "error" in r][:3],
                "cpu_us": stats([r["full"]["cpu_per_request_us"] for r in ok]),
                "requests_per_s": stats([r["full"]["requests_per_s"] for r in ok]),
                "client_errors": sum(r["full"]["errors"] for r in ok),
                "connects": stats([r["full"].get("connects") for r in ok]),
                "schedstat_us": stats([r["full"]["schedstat_per_request_us"] for r in ok]),
                "fixed_cpu_us": stats([r["fixed"]["cpu_per_request_us"] for r in ok if r["fixed"]]),
                # At a low rate the CPU delta is a few dozen 10 ms ticks: the
                # table shows the nanosecond schedstat figure for it.
                "fixed_schedstat_us": stats([r["fixed"]["schedstat_per_request_us"]
                                             for r in ok if r["fixed"]]),
                "fixed_achieved_per_s": stats([r["fixed"]["requests_per_s"] for r in ok if r["fixed"]]),
                "fixed_p99_us": stats([r["fixed"]["p99_us"] for r in ok if r["fixed"]]),
            }
            per[name] = entry
        for key in ("cpu_us", "schedstat_us", "fixed_cpu_us", "fixed_schedstat_us"):
            for ref, label in (("nginx", "x_nginx"), ("uwsgi", "x_uwsgi")):
                base = (per.get(ref) or {}).get(key)
                for entry in per.values():
                    mine = entry.get(key)
                    ratio = None
                    if base and mine and base["median"]:
                        ratio = round(mine["median"] / base["median"], 2)
                    entry[f"{key}_{label}"] = ratio
        summary[mode] = per
    return summary


def targets(summary):
    """Issue 3 §4's targets, on the full-speed medians (and at the fixed rate)."""
    out = []

    def check(mode, server, key, bound, label):
        for figure in ("cpu_us", "fixed_schedstat_us"):
            ratio = summary[mode].get(server, {}).get(f"{figure}_{key}")
            out.append({"mode": mode, "server": server, "figure": figure,
                        "target": f"<= {bound}x {label}", "ratio": ratio,
                        "met": None if ratio is None else ratio <= bound})

    check("close", "anvil wsgi (fast)", "x_nginx", 1.0, "nginx")
    check("close", "anvil wsgi (fast)", "x_uwsgi", 0.9, "uWSGI")
    check("keep-alive", "anvil wsgi (fast)", "x_nginx", 1.5, "nginx")
    check("close", "anvil-native hello", "x_nginx", 1.0, "nginx")
    check("keep-alive", "anvil-native hello", "x_nginx", 1.0, "nginx")
    return out


def fmt_stat(s, digits=1):
    if not s:
        return "failed"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}–{s['max']:.{digits}f}]"


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}x"


def readme_section(result):
    m = result["machine"]
    load = ", ".join(f"{x:.1f}" for x in m.get("loadavg_start", [])) or "not recorded"
    if m.get("load_note"):
        load += f" ({m['load_note']})"
    lines = [BEGIN, "", "### Server CPU time per request (`bench/server/run.py`)", "",
             f"{m['cpu_model']}, {m['cores']} cores, Linux {m['kernel']}; commit "
             f"`{result['commit'][:10]}`, {result['date']}; client `{result['client']}`, "
             f"{result['connections']} connections, request `chrome-2013`; server pinned to "
             "core 0, client to core 1. CPU = user+sys of the server's whole process tree "
             "(`/proc/PID/stat`, 10 ms ticks), per request answered, after a warm-up; median "
             f"[min–max] of {result['reps']} runs. *schedstat*: the same from "
             "`/proc/*/task/*/schedstat` (nanoseconds, live threads only), a cross-check. "
             f"*At {FIXED_RATE}/s*: every server offered the same rate (like for like; "
             "schedstat figure, as the tick count is small there).",
             "",
             f"Load average when the run started: {load}. Servers that close every "
             "connection in keep-alive mode are marked; uWSGI closes without a "
             "`Connection: close` field, so hammer's next request on each such connection "
             "fails and is counted as an error (about half the requests), and the CPU is "
             "divided by the requests answered.", ""]
    for mode, title in (("close", "New connection per request"),
                        ("keep-alive", "Keep-alive (chrome-2013 without `Connection: close`)")):
        lines += [f"**{title}**", "",
                  "| server | CPU µs/request | × nginx | × uWSGI | schedstat µs | requests/s | "
                  f"CPU µs/request at {FIXED_RATE}/s | × nginx | p99 µs at {FIXED_RATE}/s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, e in result["summary"][mode].items():
            rps = e["requests_per_s"]
            note = ""
            if e["failed"]:
                note = f" ({e['failed']} failed: {e['errors'][0][:60]})" if e["errors"] else ""
            if mode == "keep-alive" and e.get("connects") and e["connects"]["median"] > 1000:
                note += " (closes every connection)"
            lines.append(
                f"| {name}{note} | {fmt_stat(e['cpu_us'])} | {fmt_ratio(e['cpu_us_x_nginx'])} | "
                f"{fmt_ratio(e['cpu_us_x_uwsgi'])} | {fmt_stat(e['schedstat_us'])} | "
                f"{fmt_stat(rps, 0) if rps else 'failed'} | "
                f"{fmt_stat(e['fixed_schedstat_us'])} | {fmt_ratio(e['fixed_schedstat_us_x_nginx'])} | "
                f"{fmt_stat(e['fixed_p99_us'], 0) if e['fixed_p99_us'] else '–'} |")
        lines.append("")
    lines += ["**Targets (issue 3)**", "", "| mode | server | target | at full speed | at the fixed rate |",
              "|---|---|---|---|---|"]
    by_key = {}
    for t in result["targets"]:
        by_key.setdefault((t["mode"], t["server"], t["target"]), {})[t["figure"]] = t
    for (mode, server, target), figs in by_key.items():
        cells = []
        for fig in ("cpu_us", "fixed_schedstat_us"):
            t = figs.get(fig)
            if not t or t["ratio"] is None:
                cells.append("–")
            else:
                cells.append(f"{t['ratio']:.2f}x {'met' if t['met'] else 'NOT met'}")
        lines.append(f"| {mode} | {server} | {target} | {cells[0]} | {cells[1]} |")
    lines += ["", "Raw runs: `bench/results/server.json`. Rerun: `make bench` (or "
              "`/usr/bin/python3 bench/server/run.py`).", "", END]
    return "\n".join(lines)


def write_readme(path, section):
    text = open(path).read() if os.path.exists(path) else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def machine():
    return dict(measure.machine(), loadavg_start=list(os.getloadavg()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="build dir (bin/hammer, bin/anvil-native)")
    p.add_argument("--python", default="/usr/bin/python3")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="fewer requests, one repetition")
    p.add_argument("--servers", help="comma-separated names (default: the issue's list)")
    p.add_argument("--modes", default="close,keep-alive")
    p.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "server.json"))
    p.add_argument("--readme", default=os.path.join(ROOT, "bench", "README.md"))
    p.add_argument("--render", action="store_true",
                   help="only rewrite the README table from the --json results")
    args = p.parse_args(argv)
    if args.render:
        with open(args.json) as f:
            write_readme(args.readme, readme_section(json.load(f)))
        return 0

    modes = QUICK_MODES if args.quick else MODES
    reps = 1 if args.quick else args.reps
    fixed_requests = QUICK_FIXED_REQUESTS if args.quick else FIXED_REQUESTS
    servers = args.servers.split(",") if args.servers else DEFAULT_SERVERS
    wanted_modes = args.modes.split(",")
    hammer = os.path.join(args.build, "bin", "hammer")
    client_for = lambda close: measure.pick_client(hammer, close)  # noqa: E731
    with open(os.path.join(ROOT, "bench", "requests", "chrome-2013.http"), "rb") as f:
        chrome = f.read()
    tmp = tempfile.mkdtemp(prefix="anvil-bench-requests-")
    request_files = {}
    for mode in modes:
        data = chrome if modes[mode][0] else measure.keep_alive_request(chrome)
        request_files[mode] = os.path.join(tmp, f"chrome-2013-{mode}.http")
        with open(request_files[mode], "wb") as f:
            f.write(data)

    runs = []
    for rep in range(reps):
        for mode in wanted_modes:
            close, requests, warmup = modes[mode]
            specs = server_specs(args.build, args.python)
            for name in servers:
                print(f"[{rep + 1}/{reps}] {mode:10s} {name} ...", end=" ", flush=True)
                record = {"server": name, "mode": mode, "rep": rep, "note": specs[name].note}
                try:
                    record.update(run_one(specs[name], client_for, request_files[mode], close,
                                          requests, warmup, fixed_requests, chrome))
                    full = record["full"]
                    fixed = record["fixed"] or {}
                    print(f"{full['cpu_per_request_us']} us/req (schedstat "
                          f"{full['schedstat_per_request_us']}), {full['requests_per_s']:.0f} req/s, "
                          f"errors {full['errors']}; fixed rate {fixed.get('cpu_per_request_us')} us/req")
                except Exception as e:  # a failing server is a result, not a crash
                    record["error"] = f"{type(e).__name__}: {e}"
                    print("FAILED:", record["error"])
                runs.append(record)

    summary = summarize(runs, servers)
    for mode in MODES:
        if mode not in wanted_modes:
            summary.pop(mode, None)
    client = "hammer" if os.access(hammer, os.X_OK) else "ab (close) / wrk (keep-alive)"
    result = {
        "machine": machine(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"), "commit": measure.git_commit(ROOT), "client": client,
        "connections": 40,
        "reps": reps, "quick": args.quick, "fixed_rate": FIXED_RATE,
        "modes": {m: {"new_connection_per_request": modes[m][0], "requests": modes[m][1],
                      "warmup": modes[m][2]} for m in wanted_modes},
        "fixed_requests": fixed_requests, "summary": summary, "runs": runs,
    }
    result["targets"] = targets(summary) if set(wanted_modes) == set(MODES) else []
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    if set(wanted_modes) == set(MODES):
        write_readme(args.readme, readme_section(result))
    for t in result["targets"]:
        verdict = "n/a" if t["met"] is None else "met" if t["met"] else "NOT met"
        print(f"target {t['mode']:10s} {t['server']:20s} {t['target']:14s} {t['figure']:13s} "
              f"{t['ratio']} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
