#!/usr/bin/python3
"""Two builds of parser_bench, one against the other: did a change make
parsing slower? (Issue 8 §1: "requests without trailers must not get
slower".)

Usage: compare_builds.py BASE_BIN NEW_BIN [--rounds N] [--cpu N] [--min-time S]
       [--filter REGEX] [--json FILE] [--base-label S] [--new-label S]

Both binaries run on the same pinned CPU (taskset), in alternating rounds
(base, new, base, new, ...) so that a change in the machine's load falls on
both alike; each round is one parser_bench run of every selected benchmark.
Per workload and parser: the median CPU ns per request of each side over the
rounds (min-max beside it) and new/base. The load average at the start and
the end is printed and written. Bad arguments: one line on stderr, exit 2.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import collect  # noqa: E402  (bench/parser/report.py)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from measure.stats import load_average, summarize  # noqa: E402  (bench/measure)


REQUESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "requests")


def one_round(binary, cpu, min_time, pattern):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        # Both read the same request files: this tree's bench/requests.
        cmd = ["taskset", "-c", str(cpu), binary, f"--requests_dir={REQUESTS}",
               f"--benchmark_filter={pattern}", f"--benchmark_min_time={min_time}",
               f"--benchmark_out={out.name}", "--benchmark_out_format=json"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out.name, encoding="utf-8") as f:
            rows, order = collect(json.load(f))
    return {key: rows[key]["single"]["ns"] for key in order if "single" in rows[key]}


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"compare_builds.py: {message}\n")


def main():
    ap = _OneLineParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--filter", default="/(llhttp|fast)$", help="benchmarks both binaries have")
    ap.add_argument("--json")
    ap.add_argument("--base-label", default="base")
    ap.add_argument("--new-label", default="new")
    args = ap.parse_args()
    for path in (args.base, args.new):
        if not os.access(path, os.X_OK):
            print(f"compare_builds.py: not an executable: {path}", file=sys.stderr)
            sys.exit(2)
    if args.rounds < 1 or args.min_time <= 0:
        print("compare_builds.py: --rounds and --min-time must be positive", file=sys.stderr)
        sys.exit(2)

    load_start = load_average()
    runs = {"base": [], "new": []}
    for _ in range(args.rounds):
        runs["base"].append(one_round(args.base, args.cpu, args.min_time, args.filter))
        runs["new"].append(one_round(args.new, args.cpu, args.min_time, args.filter))
    load_end = load_average()

    keys = [k for k in runs["base"][0] if all(k in r for side in runs.values() for r in side)]
    rows = []
    for workload, parser in keys:
        base = summarize([r[(workload, parser)] for r in runs["base"]])
        new = summarize([r[(workload, parser)] for r in runs["new"]])
        rows.append({"workload": workload, "parser": parser, "base_ns": base, "new_ns": new,
                     "new_over_base": round(new["median"] / base["median"], 3)})

    head = (f"{args.base_label} vs {args.new_label}: parser_bench, CPU {args.cpu}, {args.rounds} "
            f"alternating rounds, CPU ns per request, median (min-max); load average "
            f"{load_start} at start, {load_end} at end")
    print(head)
    print("| workload | parser | base ns | new ns | new/base |")
    print("|---|---|--:|--:|--:|")
    for r in rows:
        b, n = r["base_ns"], r["new_ns"]
        print(f"| {r['workload']} | {r['parser']} | {b['median']:.0f} ({b['min']:.0f}-{b['max']:.0f}) "
              f"| {n['median']:.0f} ({n['min']:.0f}-{n['max']:.0f}) | {r['new_over_base']:.2f}x |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "parser_bench compare", "base": args.base_label,
                       "new": args.new_label, "cpu": args.cpu, "rounds": args.rounds,
                       "min_time_s": args.min_time, "load_average_start": load_start,
                       "load_average_end": load_end, "results": rows}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
