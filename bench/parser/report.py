#!/usr/bin/python3
"""Turns parser_bench's Google Benchmark JSON into bench/results/parser.json
and the table of bench/README.md's "## Parser" section.

Usage: report.py RAW_JSON [--results FILE] [--readme FILE] [--cpu-model S]
       [--commit S] [--pinned-cpu N]
Without --results/--readme it only prints the table.
"""
import argparse
import datetime
import json
import re
import sys

BEGIN = "<!-- parser-table:begin -->"
END = "<!-- parser-table:end -->"
# The target set for the fast parser (issue 11 §7): at most this fraction of
# raw llhttp's time per request (its own API and rules, `llhttp-raw`) on the
# survey's chrome-2013 request, measured in the same binary and run.
TARGET_WORKLOAD, TARGET_RATIO, TARGET_BASE = "chrome-2013", 0.35, "llhttp-raw"
# Each C parser raw and as anvil's plug-in (issue 11 §2): the plug-in's time
# over the raw one is what anvil's checking pass adds to that library.
PLUGINS_OF_RAW = {"llhttp": "llhttp-raw", "http-parser": "http-parser-raw"}
WITH_RANGE = ("llhttp-raw", "http-parser-raw", "llhttp", "http-parser", "fast")
NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def collect(raw):
    """{(workload, parser): {stat: {"ns": x, "bytes_per_second": y}}} and the order seen."""
    rows, order = {}, []
    for b in raw["benchmarks"]:
        name = b.get("run_name", b["name"])
        _, workload, parser = name.split("/")[:3]
        stat = b.get("aggregate_name", "single") if b.get("run_type") == "aggregate" else "single"
        key = (workload, parser)
        if key not in rows:
            rows[key] = {}
            order.append(key)
        if "error_message" in b or b.get("error_occurred"):
            rows[key]["error"] = b.get("error_message", "error")
            continue
        rows[key][stat] = {
            # CPU time: on a shared machine, wall time also counts the time
            # other processes held the core (DESIGN.md, "Measurement").
            "ns": b["cpu_time"] * NS[b.get("time_unit", "ns")],
            "wall_ns": b["real_time"] * NS[b.get("time_unit", "ns")],
            "bytes_per_second": b.get("bytes_per_second", 0.0),
            "label": b.get("label", ""),
        }
    return rows, order


def summarise(rows, order):
    results = []
    for workload, parser in order:
        r = rows[(workload, parser)]
        if "error" in r:
            results.append({"workload": workload, "parser": parser, "error": r["error"]})
            continue
        mid = r.get("median", r.get("single"))
        entry = {
            "workload": workload,
            "parser": parser,
            "label": mid["label"],
            "ns_per_request": {"median": round(mid["ns"], 2)},
            "wall_ns_per_request": {"median": round(mid["wall_ns"], 2)},
            "gb_per_s": {"median": round(mid["bytes_per_second"] / 1e9, 3)},
        }
        for stat in ("min", "max"):
            if stat in r:
                entry["ns_per_request"][stat] = round(r[stat]["ns"], 2)
        results.append(entry)
    return results


def ratios(results, base="llhttp", parser="fast"):
    """{workload: parser's median / base's median} where both parsed it."""
    by = {(e["workload"], e["parser"]): e for e in results if "error" not in e}
    out = {}
    for workload in dict.fromkeys(e["workload"] for e in results):
        top, bottom = by.get((workload, parser)), by.get((workload, base))
        if top and bottom:
            out[workload] = round(top["ns_per_request"]["median"] / bottom["ns_per_request"]["median"], 3)
    return out


def plugin_ratios(results):
    """{plug-in: {workload: plug-in's median / its library's raw median}}."""
    return {plugin: ratios(results, base=raw, parser=plugin)
            for plugin, raw in PLUGINS_OF_RAW.items()}


def table(results, ratio, ratio_raw, by_plugin):
    by = {(e["workload"], e["parser"]): e for e in results}
    parsers = list(dict.fromkeys(e["parser"] for e in results))
    head = ["workload", "request"] + [f"{p} ns/req" for p in parsers]
    head += ["llhttp GB/s", "fast GB/s", "fast/llhttp", "fast/llhttp-raw"]
    head += [f"{p}/{raw}" for p, raw in PLUGINS_OF_RAW.items()]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "--:|" * (len(head) - 2)]
    for workload in dict.fromkeys(e["workload"] for e in results):
        cells = [workload, by.get((workload, "llhttp"), {}).get("label", "")]
        for parser in parsers:
            e = by.get((workload, parser))
            if e is None or "error" in e:
                cells.append("error" if e else "-")
                continue
            ns = e["ns_per_request"]
            with_range = parser in WITH_RANGE and "min" in ns
            cells.append(f"{ns['median']:.0f} ({ns['min']:.0f}–{ns['max']:.0f})" if with_range
                         else f"{ns['median']:.0f}")
        for parser in ("llhttp", "fast"):
            e = by.get((workload, parser))
            cells.append(f"{e['gb_per_s']['median']:.2f}" if e and "error" not in e else "-")
        for r in (ratio, ratio_raw, *by_plugin.values()):
            cells.append(f"{r[workload]:.2f}x" if workload in r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_readme(path, block):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        sys.exit(f"report.py: {path} has no {BEGIN} ... {END} markers")
    text = pattern.sub(lambda _: BEGIN + "\n" + block + "\n" + END, text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--results")
    ap.add_argument("--readme")
    ap.add_argument("--cpu-model", default="unknown")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--pinned-cpu", default=None)
    ap.add_argument("--repetitions", type=int, default=1)
    ap.add_argument("--load", default="unknown", help="load average when the run started")
    args = ap.parse_args()
    with open(args.raw, encoding="utf-8") as f:
        raw = json.load(f)

    rows, order = collect(raw)
    results = summarise(rows, order)
    ratio = ratios(results)
    ratio_raw = ratios(results, base=TARGET_BASE)
    by_plugin = plugin_ratios(results)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    reps = args.repetitions
    verdict = ratio_raw.get(TARGET_WORKLOAD)
    met = verdict is not None and verdict <= TARGET_RATIO
    summary = (f"{args.cpu_model}, pinned to CPU {args.pinned_cpu}, load average {args.load} at start, "
               f"commit {args.commit}, {date}; "
               f"CPU ns per request, median of {reps} repetition(s), (min–max) in brackets; "
               f"GB/s over CPU time. "
               f"`llhttp-raw` and `http-parser-raw` are llhttp 8.1.0 and http-parser 2.9.4 "
               f"through their own API and rules with Node.js's callbacks; `llhttp` and "
               f"`http-parser` are anvil's plug-ins (the library plus anvil's checking pass, "
               f"parser/RULES.md), so `llhttp/llhttp-raw` and `http-parser/http-parser-raw` "
               f"are what holding each library to RULES.md costs. "
               f"Target (issue 11 §7) fast ≤ {TARGET_RATIO}x {TARGET_BASE} on {TARGET_WORKLOAD}: "
               + (f"{verdict:.2f}x, {'met' if met else 'NOT met'}." if verdict else "not measured."))
    block = summary + "\n\n" + table(results, ratio, ratio_raw, by_plugin)
    print(block)
    if args.results:
        out = {
            "benchmark": "parser_bench",
            "date": date,
            "commit": args.commit,
            "cpu_model": args.cpu_model,
            "pinned_cpu": args.pinned_cpu,
            "repetitions": reps,
            "load_average_at_start": args.load,
            "context": raw["context"],
            "results": results,
            "ratio_fast_over_llhttp": ratio,
            "ratio_fast_over_llhttp_raw": ratio_raw,
            "ratio_plugin_over_raw": by_plugin,
            "target": {"workload": TARGET_WORKLOAD, "base": TARGET_BASE, "max_ratio": TARGET_RATIO,
                       "ratio": verdict, "met": met},
        }
        with open(args.results, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    if args.readme:
        update_readme(args.readme, block)


if __name__ == "__main__":
    main()
