"""The parser shoot-out's harness (bench/parsers/): the corpus reader, the
comparison with anvil's verdict, the drivers, the timing loop and parsers_c.

Runs on /usr/bin/python3. Drivers whose server is not installed are skipped
with the import error (make parsers-deps installs them all).
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "parsers"))
sys.path.insert(0, os.path.join(ROOT, "python"))

import classes  # noqa: E402
import compare  # noqa: E402
import corpus  # noqa: E402
import drivers  # noqa: E402
import worker  # noqa: E402

CASES = os.path.join(ROOT, "tests", "parser", "cases")
REQUESTS = os.path.join(ROOT, "bench", "requests")
PARSERS_C = os.path.join(ROOT, os.environ.get("ANVIL_BUILD_DIR", "build"), "bin", "parsers_c")


def _load(name):
    """A bench/parsers module under its own name (bench/apps has a run.py too)."""
    import importlib.util
    path = os.path.join(ROOT, "bench", "parsers", name + ".py")
    spec = importlib.util.spec_from_file_location("parsers_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def request(name):
    with open(os.path.join(REQUESTS, name + ".http"), "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def cases():
    return corpus.load(CASES)


# --- corpus.py ---------------------------------------------------------------------

def test_corpus_reads_every_case(cases):
    count = 0
    for name in os.listdir(CASES):
        if name.endswith(".txt"):
            with open(os.path.join(CASES, name), encoding="latin-1") as f:
                count += sum(1 for line in f if line.startswith("==="))
    assert len(cases) == count
    assert len({c.name for c in cases}) == count


def test_corpus_verdicts(cases):
    by_name = {c.name: c for c in cases}
    body = by_name["content_length_body"]
    assert body.input == b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    assert (body.messages, body.end) == ([("POST", "/", b"hello")], "ok")
    overflow = by_name["chunked_size_overflow_17_digits"]
    assert (overflow.messages, overflow.end, overflow.status) == ([], "error", 400)
    binary = by_name["content_length_binary_body"]
    assert binary.messages[0][2] == b"\0\r\n\x80\xff\""


@pytest.mark.parametrize("text, expected", [
    ("a\\r\\n\\t\\0\\\\\\x41", b"a\r\n\t\0\\A"),
    ("{{3*ab}}c", b"abababc"),
    ("{{2*\\r\\n}}", b"\r\n\r\n"),
])
def test_corpus_escapes(text, expected):
    assert corpus.unescape(corpus.expand_repeats(text)) == expected


def test_corpus_leaves_out_responses_and_limits(cases):
    by_name = {c.name: c for c in cases}
    assert corpus.excluded(by_name["response_content_length"]).startswith("a response case")
    assert "request_line=" in corpus.excluded(by_name["request_line_over_limit"])
    assert corpus.excluded(by_name["content_length_body"]) is None


# --- compare.py --------------------------------------------------------------------

GET = ("GET", "/", b"")
POST = ("POST", "/", b"hello")


@pytest.mark.parametrize("name, anvil, parser, one, category", [
    ("same messages", ([GET], "ok"), ([GET], "ok"), False, "same"),
    ("both reject", ([], "error"), ([], "error"), False, "same"),
    ("anvil waits, parser rejects at the end", ([], "incomplete"), ([], "error"), False, "same"),
    ("delivers what anvil rejects", ([], "error"), ([GET], "ok"), False, "accepts"),
    ("eats the bytes anvil rejects", ([], "error"), ([], "ok"), False, "accepts"),
    ("another body", ([POST], "ok"), ([("POST", "/", b"hel")], "ok"), False, "differs"),
    ("another method", ([GET], "ok"), ([("get", "/", b"")], "ok"), False, "differs"),
    ("more messages", ([GET], "ok"), ([GET, GET], "ok"), False, "differs"),
    ("waits inside a message anvil ended", ([GET, GET], "ok"), ([GET], "incomplete"), False,
     "differs"),
    ("delivers at the end what anvil waits for", ([], "incomplete"), ([POST], "ok"), False,
     "truncates"),
    ("rejects what anvil delivers", ([GET], "ok"), ([], "error"), False, "rejects"),
    ("closes earlier", ([GET, GET], "ok"), ([GET], "ok"), False, "stops"),
    ("still waiting where anvil rejects", ([GET], "error"), ([GET], "incomplete"), False,
     "waits"),
    ("hangs", ([GET], "ok"), ([], "hang"), False, "hang"),
    ("driver failed", ([GET], "ok"), ([], "driver-error"), False, "error"),
    ("one per connection: the rest is never read", ([GET, POST], "error"), ([GET], "ok"), True,
     "same"),
    ("one per connection: the first still counts", ([], "error"), ([GET], "ok"), True,
     "accepts"),
])
def test_compare(name, anvil, parser, one, category):
    assert compare.compare(*anvil, *parser, one_per_connection=one)[0] == category, name


def test_every_category_is_listed():
    assert set(compare.LETS_THROUGH) <= set(compare.CATEGORIES)


# --- classes.py --------------------------------------------------------------------

@pytest.mark.parametrize("case, key", [
    ("content_length_and_transfer_encoding", "cl_te"),
    ("cve_2022_32215_multiline_transfer_encoding", "obs_fold"),
    ("transfer_encoding_chunked_not_last", "te_coding"),
    ("cve_2022_24761_content_length_plus", "cl_value"),
    ("chunked_size_overflow_17_digits", "chunk_size"),
    ("cve_2022_32213_chunk_ext_bare_lf", "chunk_ext"),
    ("cve_2022_32214_lf_only_request", "bare_lf"),
    ("cve_2023_30589_bare_cr_in_field", "bare_cr"),
    ("name_space_before_colon", "ws_colon"),
    ("cve_2024_49768_bad_request_in_the_middle", "pipelining"),
])
def test_classes(case, key):
    assert classes.class_of(case) == key
    assert classes.rule_of(key).startswith("RFC")
    assert classes.takes_of(key)


def test_unknown_case_gets_its_files_class():
    assert classes.class_of("zzz_new_kind", "targets") == "other:targets"
    assert classes.label_of("other:targets") == "other (targets)"


# --- drivers.py --------------------------------------------------------------------

def _driver(name):
    d = {x.name: x for x in drivers.drivers()}[name]
    try:
        d.setup()
    except ImportError as e:
        pytest.skip(f"{name}: {e}")
    return d


DRIVER_NAMES = [d.name for d in drivers.drivers()]
# Known departures on the reference requests (Debian bookworm's versions):
# tornado 6.2 has no chunk extensions ("TODO" in _read_chunked_body), wsgiref
# no chunked decoding.
REJECTS = {("tornado", "chunked-post")}
NO_CHUNKED = {"http.server"}


@pytest.mark.parametrize("name", DRIVER_NAMES)
@pytest.mark.parametrize("workload", ["chrome-2013", "ab", "cookie-4k", "chunked-post"])
def test_driver_parses_the_reference_requests(name, workload):
    d = _driver(name)
    data = request(workload)
    expected = corpus_reference(data)
    if (name, workload) in REJECTS:
        with pytest.raises(Exception):
            d.one(data)
        return
    body = d.one(data)
    outcome = d.run(data)
    assert outcome.messages[0][:2] == expected[:2]
    if name in NO_CHUNKED and workload == "chunked-post":
        assert body == b""
    else:
        assert body == expected[2]
        assert outcome.messages[0][2] == expected[2]


def corpus_reference(data):
    from anvil.pyparser import RequestParser
    head, body, _ = RequestParser().feed_messages(data)[0]
    return head[0], head[1], bytes(body)


@pytest.mark.parametrize("name", [n for n in DRIVER_NAMES if n.startswith("anvil.parser")])
def test_anvil_from_python_agrees_with_the_corpus(name, cases):
    """The harness checked against itself: anvil's own parsers must come out
    "same" on every compared case."""
    d = _driver(name)
    for c in cases:
        if corpus.excluded(c):
            continue
        o = d.run(c.input)
        assert compare.compare(c.messages, c.end, o.messages, o.end)[0] == "same", c.name


def test_a_parser_that_loops_is_stopped_as_a_hang():
    class Loops(drivers.Driver):
        name = "loops"

        def run(self, data):
            while True:
                pass

    result = worker.verdicts_of(Loops(), [c for c in corpus.load(CASES)
                                           if c.name == "get_minimal"], hang_cpu_s=0.05)
    assert result["get_minimal"]["end"] == "hang"


def test_a_driver_failure_is_shown_not_hidden():
    class Broken(drivers.Driver):
        name = "broken"

        def run(self, data):
            raise KeyError("oops")

    result = worker.verdicts_of(Broken(), [c for c in corpus.load(CASES)
                                            if c.name == "get_minimal"])
    assert result["get_minimal"]["end"] == "driver-error"
    assert "KeyError" in result["get_minimal"]["detail"]


# --- worker.py ---------------------------------------------------------------------

def test_worker_measure_runs_and_warmup():
    calls = []
    m = worker.measure(lambda data: calls.append(data), b"x", run_s=0.002, cap_s=0.05)
    assert len(m["runs_ns"]) == worker.RUNS
    assert m["min_ns"] <= m["median_ns"] <= m["max_ns"]
    assert m["warmup"]["batches"] >= 1 and m["iterations"] >= 1
    assert set(calls) == {b"x"}


def test_worker_writes_one_parser(tmp_path):
    out = tmp_path / "h11.json"
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "parsers", "worker.py"),
                    "--parser", "h11", "--requests", REQUESTS, "--cases", CASES,
                    "--json", str(out), "--quick", "--no-speed"], check=True, env=env,
                   timeout=300)
    result = json.loads(out.read_text())
    if "unavailable" in result:
        pytest.skip(result["unavailable"])
    assert result["runtime"] == "cpython"
    assert result["verdicts"]["content_length_body"]["messages"][0]["body"] == "hello"


def test_worker_rejects_an_unknown_parser(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "parsers", "worker.py"),
                           "--parser", "nope", "--requests", REQUESTS, "--cases", CASES,
                           "--json", str(tmp_path / "x.json")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "unknown parser nope" in proc.stderr


# --- parsers_c ---------------------------------------------------------------------

needs_parsers_c = pytest.mark.skipif(not os.access(PARSERS_C, os.X_OK),
                                     reason=f"{PARSERS_C} is not built (make build)")


@needs_parsers_c
def test_parsers_c_json(tmp_path, cases):
    out = tmp_path / "c.json"
    subprocess.run([PARSERS_C, "--requests", REQUESTS, "--cases", CASES, "--runs", "2",
                    "--min-time", "0.001", "--json", str(out)], check=True, timeout=300)
    doc = json.loads(out.read_text())
    assert doc["format"] == "parsers_c/1"
    by_name = {p["name"]: p for p in doc["parsers"]}
    assert {"llhttp", "http-parser", "anvil-fast", "anvil-llhttp", "anvil-http-parser"} <= set(by_name)
    requests = {n[:-5] for n in os.listdir(REQUESTS) if n.endswith(".http")}
    compared = [c for c in cases if not corpus.excluded(c)]
    for p in doc["parsers"]:
        assert set(p["speed"]) == requests
        for s in p["speed"].values():
            assert len(s["runs_ns"]) == 2 and s["min_ns"] <= s["median_ns"] <= s["max_ns"]
        assert set(p["verdicts"]) == {c.name for c in cases if c.mode == "request"}
    # anvil's plug-ins through parsers_c agree with the corpus: the C side of
    # the harness checked against itself.
    for name in ("anvil-fast", "anvil-llhttp", "anvil-http-parser"):
        for c in compared:
            v = by_name[name]["verdicts"][c.name]
            got = [corpus.message_from_json(m) for m in v["messages"]]
            assert compare.compare(c.messages, c.end, got, v["end"])[0] == "same", (name, c.name)
    # Raw llhttp, its own rules: Host is the server's business (Node.js checks it in JS).
    host = by_name["llhttp"]["verdicts"]["host_missing_http11"]
    assert host["end"] == "ok" and host["messages"][0]["target"] == "/"


@needs_parsers_c
@pytest.mark.parametrize("args", [["--runs", "0"], ["--min-time", "-1"], ["--frobnicate", "1"],
                                  ["--parsers", "nope"], ["--requests", "/nonexistent"]])
def test_parsers_c_bad_arguments(args):
    proc = subprocess.run([PARSERS_C, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("parsers_c: ")


@needs_parsers_c
def test_parsers_c_lists_every_anvil_kind():
    out = subprocess.run([PARSERS_C, "--list"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    names = [line.split("\t")[0] for line in out.splitlines()]
    kinds = drivers.anvil_kinds()
    if not kinds:
        pytest.skip("anvil's extension is not built")
    assert names == ["llhttp", "http-parser"] + [f"anvil-{k}" for k in kinds]


# --- writeup.py --------------------------------------------------------------------

def test_report_writes_everything(tmp_path):
    """A small run (one Python parser, quick, and parsers_c when built) through
    the report: PARSERS.md, both charts, and the README section between its marks."""
    pytest.importorskip("matplotlib")
    import writeup
    run = _load("run")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    out = tmp_path / "pyparser.json"
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "parsers", "worker.py"),
                    "--parser", "anvil.pyparser", "--requests", REQUESTS, "--cases", CASES,
                    "--json", str(out), "--quick", "--workloads", "chrome-2013,ab"],
                   check=True, env=env, timeout=300)
    result = json.loads(out.read_text())
    d = next(x for x in drivers.drivers() if x.name == "anvil.pyparser")
    doc = {"quick": True, "machine": run.machine(1), "not_available": run.NOT_AVAILABLE,
           "drivers": [{"name": d.name, "label": d.label, "package": d.package, "version": "",
                        "servers": list(d.servers), "how": d.how, "one_per_connection": False}],
           "python": [dict(result, wall_s=1.0)],
           "c": run.run_c(os.path.dirname(os.path.dirname(PARSERS_C)), True, None,
                          str(tmp_path))}
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{writeup.MARK[0]}\nstale section\n{writeup.MARK[1]}\nafter\n")
    writeup.write(doc, str(tmp_path), str(readme))
    text = (tmp_path / "PARSERS.md").read_text()
    assert "anvil.pyparser (pure Python)" in text and "## The strictness matrix" in text
    assert (tmp_path / "parsers-speed.png").stat().st_size > 0
    assert (tmp_path / "parsers-matrix.png").stat().st_size > 0
    section = readme.read_text()
    assert section.startswith("before\n") and section.endswith("after\n")
    assert "stale section" not in section and "## " not in section
