"""parser_bench (bench/parser/): every contender, raw C parsers included,
parses every workload; report.py judges fast's target against raw llhttp
(issue 11 §2, §7); compare_builds.py sets two builds side by side (issue 8
§1's "no slower" check). Speeds are never asserted: only that the figures
are there and consistent."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, os.environ.get("ANVIL_BUILD_DIR", "build"), "bin", "parser_bench")
REPORT = os.path.join(ROOT, "bench", "parser", "report.py")
COMPARE = os.path.join(ROOT, "bench", "parser", "compare_builds.py")
WORKLOADS = {"chrome-2013", "chrome-2025", "ab", "curl", "cookie-4k", "chunked-post"}
RAW = {"llhttp-raw", "http-parser-raw"}
PLUGINS = {"llhttp", "http-parser", "fast"}

needs_bench = pytest.mark.skipif(not os.access(BENCH, os.X_OK),
                                 reason=f"{BENCH} is not built (make build)")


@pytest.fixture(scope="module")
def raw_json(tmp_path_factory):
    if not os.access(BENCH, os.X_OK):
        pytest.skip(f"{BENCH} is not built (make build)")
    out = tmp_path_factory.mktemp("bench") / "raw.json"
    subprocess.run([BENCH, "--benchmark_filter=/(llhttp-raw|http-parser-raw|llhttp|http-parser|fast)$",
                    "--benchmark_min_time=0.001", f"--benchmark_out={out}",
                    "--benchmark_out_format=json"], check=True, stdout=subprocess.DEVNULL,
                   timeout=300)
    return out


def test_every_contender_parses_every_workload(raw_json):
    doc = json.loads(raw_json.read_text())
    seen = set()
    for b in doc["benchmarks"]:
        _, workload, parser = b["name"].split("/")[:3]
        assert not b.get("error_occurred"), (b["name"], b.get("error_message"))
        assert b["iterations"] > 0
        seen.add((workload, parser))
    assert seen == {(w, p) for w in WORKLOADS for p in RAW | PLUGINS}


def test_raw_parsers_see_the_same_fields_as_the_plugins(raw_json):
    # The label says "N B, M fields": the raw callbacks see the same field
    # lines as the plug-ins' Message, and a trailer too (on_header_field is
    # called for trailer lines), so chunked-post's one trailer counts there.
    labels = {}
    for b in json.loads(raw_json.read_text())["benchmarks"]:
        _, workload, parser = b["name"].split("/")[:3]
        labels[(workload, parser)] = b["label"]
    for w in WORKLOADS - {"chunked-post"}:
        assert len({labels[(w, p)] for p in RAW | PLUGINS}) == 1, w
    assert labels[("chunked-post", "fast")] == labels[("chunked-post", "llhttp")] \
        == labels[("chunked-post", "http-parser")] == "4295 B, 3 fields"
    assert labels[("chunked-post", "llhttp-raw")] == labels[("chunked-post", "http-parser-raw")] \
        == "4295 B, 4 fields"


def test_report_judges_the_target_against_raw_llhttp(raw_json, tmp_path):
    results = tmp_path / "parser.json"
    out = subprocess.run([sys.executable, REPORT, str(raw_json), "--results", str(results)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    doc = json.loads(results.read_text())
    assert doc["target"]["base"] == "llhttp-raw"
    by = {(e["workload"], e["parser"]): e["ns_per_request"]["median"] for e in doc["results"]}
    want = round(by[("chrome-2013", "fast")] / by[("chrome-2013", "llhttp-raw")], 3)
    assert doc["target"]["ratio"] == want == doc["ratio_fast_over_llhttp_raw"]["chrome-2013"]
    assert doc["target"]["met"] == (want <= 0.35)
    assert "fast/llhttp-raw" in out and "http-parser-raw ns/req" in out
    # Each C parser raw and as a plug-in, side by side (issue 11 §2).
    assert "http-parser/http-parser-raw" in out and "llhttp/llhttp-raw" in out
    for plugin, raw in (("llhttp", "llhttp-raw"), ("http-parser", "http-parser-raw")):
        for w in WORKLOADS:
            assert doc["ratio_plugin_over_raw"][plugin][w] == round(by[(w, plugin)] / by[(w, raw)], 3)


@needs_bench
def test_compare_builds_sets_two_builds_side_by_side(tmp_path):
    out = tmp_path / "compare.json"
    proc = subprocess.run([sys.executable, COMPARE, BENCH, BENCH, "--rounds", "2", "--min-time",
                           "0.001", "--filter", "(chrome-2013|ab)/fast$", "--json", str(out)],
                          capture_output=True, text=True, check=True, timeout=300)
    doc = json.loads(out.read_text())
    assert doc["rounds"] == 2 and len(doc["load_average_start"]) == 3
    assert {(r["workload"], r["parser"]) for r in doc["results"]} == {("chrome-2013", "fast"),
                                                                       ("ab", "fast")}
    for r in doc["results"]:
        assert r["base_ns"]["min"] <= r["base_ns"]["median"] <= r["base_ns"]["max"]
        assert r["new_over_base"] == round(r["new_ns"]["median"] / r["base_ns"]["median"], 3)
    assert "| chrome-2013 | fast |" in proc.stdout


@pytest.mark.parametrize("args", [["/nonexistent", "/nonexistent"], ["--rounds", "0", "x", "y"],
                                  ["--frobnicate"]])
def test_compare_builds_bad_arguments(args):
    if args[0] == "--rounds":
        args = ["--rounds", "0", BENCH, BENCH]
    proc = subprocess.run([sys.executable, COMPARE, *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("compare_builds.py: ") and proc.stderr.count("\n") == 1
