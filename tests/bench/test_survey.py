"""The survey driver (bench/survey): how a cell is sized, the presets, the
uvicorn matrix and its availability per runtime, the report's second ladder,
the twisted/tornado comparison and the claims on made-up figures, and one
end-to-end run that is interrupted and resumed."""

import importlib
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SURVEY = os.path.join(ROOT, "bench", "survey")
HAMMER = os.path.join(ROOT, "build", "bin", "hammer")
PYTHON = "/usr/bin/python3"
sys.path.insert(0, os.path.join(ROOT, "bench"))

import measure  # noqa: E402
from measure import servers as launch  # noqa: E402


def _load_survey():
    """bench/survey's modules (survey, report, servers) without clashing with
    bench/apps' report module, which test_apps.py imports under the same
    name: the names are swapped in sys.modules only while they load."""
    saved = {k: sys.modules.pop(k) for k in ("survey", "report", "servers") if k in sys.modules}
    sys.path.insert(0, SURVEY)
    try:
        mod = importlib.import_module("survey")
        return mod, mod.report, mod.servers
    finally:
        sys.path.remove(SURVEY)
        for k in ("survey", "report", "servers"):
            sys.modules.pop(k, None)
        sys.modules.update(saved)


survey, report, srvs = _load_survey()


def args_of(*argv):
    return survey.parse_args(list(argv))


# --- sizing and presets -----------------------------------------------------------------

def test_the_full_size_workload_gets_the_survey_counts_from_2000_requests_per_s():
    a = args_of()
    assert a.matrix == "full" and a.full_size == ["close-chrome"] and a.cell_seconds == 12
    s = survey.Sizing(a, "close-chrome")
    assert s.slice(2000) == 15000 and s.slice(9000) == 15000  # two of them: the survey's 30000
    assert s.run(2000) == 90000 and s.run(13000) == 90000
    # Slower: the time the counts take at 2000/s (7.5 s a slice, 45 s a run).
    assert s.slice(230) == int(230 * 7.5) and s.run(230) == int(230 * 45)
    assert s.run(1999) < 90000


def test_the_other_workloads_share_the_cell_budget():
    a = args_of()
    s = survey.Sizing(a, "keepalive-ab")
    share = 12 / (3 + 2)  # the least warm-up (2 slices) and 3 runs fill the budget
    assert s.slice(5000) == int(5000 * share) and s.run(5000) == int(5000 * share)
    assert s.slice(10) == survey.MIN_SLICE and s.run(10) == survey.MIN_COUNTED
    assert s.slice(1e6) == 15000 and s.run(1e6) == 90000  # never above the survey's counts


def test_the_demo_gives_pypy_cells_their_own_counts():
    a = args_of("--demo")
    cpython, pypy = survey.Sizing(a, "keepalive-chrome", "cpython"), \
        survey.Sizing(a, "keepalive-chrome", "pypy")
    assert (cpython.slice(None), cpython.run(None)) == (500, 2000)
    assert (pypy.slice(None), pypy.run(None)) == (report.SMALL_SLICE, 5000)
    assert a.runs == 5 and "wsgiref" not in a.servers
    rule = survey.rule_text(a)
    assert "slices of 500 requests (PyPy: 5000)" in rule and "within 5%" in rule
    assert "5 counted runs of 2000 requests (PyPy: 5000)" in rule and "median (min–max)" in rule
    # Elsewhere PyPy takes --requests and --warmup, unless told; one of the two alone
    # takes the other from them.
    q = args_of("--quick")
    assert survey.Sizing(q, "close-chrome", "pypy").slice(None) == q.warmup // 2
    assert "PyPy" not in survey.rule_text(q)
    one = args_of("--quick", "--pypy-warmup", "600")
    assert survey.counts(one, "pypy") == (one.requests, 600)
    assert survey.parameters(one)["pypy_warmup"] == 600
    assert "pypy_warmup" not in survey.parameters(q)  # earlier results stay resumable


def test_quick_and_uncapped_cells_have_fixed_counts_and_no_probe():
    a = args_of("--quick")
    s = survey.Sizing(a, "close-chrome")
    assert not s.needs_rate
    assert s.slice(None) == a.warmup // 2 and s.run(None) == a.requests - a.warmup
    assert a.out.parent.name == "survey-quick"


@pytest.mark.parametrize("argv, matrix", [
    ([], "full"),
    (["--cell-seconds", "20"], "reduced"),
    (["--full-size", "none"], "reduced"),
    (["--servers", "nginx"], "reduced"),
    (["--requests", "20000", "--warmup", "5000"], "reduced"),
    (["--full-rate", "1000"], "reduced"),
    (["--quick"], "quick"),
])
def test_only_the_full_parameters_are_labelled_full(argv, matrix):
    assert args_of(*argv).matrix == matrix


@pytest.mark.parametrize("argv", [
    ["--servers", "nope"], ["--full-size", "close-nope"], ["--requests", "10", "--warmup", "10"],
    ["--resume", "--merge"], ["--demo", "--resume"], ["--cell-seconds", "-1"],
    ["--pypy-requests", "100", "--pypy-warmup", "100"], ["--pypy-requests", "0"],
])
def test_bad_options_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        survey.parse_args(argv)
    assert e.value.code == 2


def test_estimate_prints_each_cells_sizing_and_runs_nothing(tmp_path):
    out = tmp_path / "survey.json"
    r = subprocess.run([PYTHON, os.path.join(SURVEY, "survey.py"), "--estimate", "--servers",
                        "wsgiref,nginx,uvicorn-uvloop-h11", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "REDUCED" in lines[0] and "estimated about" in lines[1]
    assert any(ln.split()[:4] == ["wsgiref", "cpython", "close-chrome", "full"] for ln in lines)
    assert any(ln.split()[:4] == ["nginx", "native", "close-ab", "<="] for ln in lines)
    uvloop_pypy = [ln for ln in lines if ln.split()[:2] == ["uvicorn-uvloop-h11", "pypy"]]
    assert len(uvloop_pypy) == 4 and all("n/a: `import uvicorn, uvloop, h11` fails" in ln
                                         for ln in uvloop_pypy)
    assert not out.exists()


# --- the uvicorn matrix -----------------------------------------------------------------

def test_the_uvicorn_matrix_has_all_four_combinations_and_hypercorn():
    keys = {s.key for s in srvs.SERVERS if s.uvicorn}
    assert keys == {f"uvicorn-{l}-{h}" for l in ("uvloop", "asyncio") for h in ("httptools", "h11")}
    spec = srvs.BY_KEY["uvicorn-asyncio-h11"].spec("cpython", "build")
    argv = " ".join(spec.argv)
    assert "--interface wsgi" in argv and "--loop asyncio" in argv and "--http h11" in argv
    assert argv.endswith("hello:app") and "{port}" in argv
    assert "hypercorn" in srvs.BY_KEY["hypercorn"].spec("pypy", "build").argv


def test_import_error_names_the_missing_module():
    assert launch.import_error(PYTHON, ["os", "json"]) is None
    err = launch.import_error(PYTHON, ["os", "anvil_no_such_module"])
    assert err == "ModuleNotFoundError: No module named 'anvil_no_such_module'"


def test_a_server_whose_modules_do_not_import_is_not_available_with_the_reason():
    s = srvs.Server("x", "x", ["cpython"], None, requires=["anvil_no_such_module"])
    why = s.unavailable_on("cpython")
    assert "anvil_no_such_module" in why and "CPython" in why
    assert srvs.Server("y", "y", ["cpython"], None, requires=["json"]).unavailable_on(
        "cpython") is None


@pytest.mark.parametrize("key", ["uvicorn-asyncio-h11", "uvicorn-uvloop-httptools", "uvicorn-asgi",
                                 "hypercorn"])
def test_the_new_servers_serve_hello_on_cpython(key):
    s = srvs.BY_KEY[key]
    if s.unavailable_on("cpython"):
        pytest.skip(s.unavailable_on("cpython"))
    srv = measure.start_server(s.spec("cpython", os.path.join(ROOT, "build")), cpu=0)
    try:
        with open(os.path.join(ROOT, "bench", "requests", "chrome-2013.http"), "rb") as f:
            measure.verify(srv.host, srv.port, f.read())
    finally:
        srv.stop()


# --- the report on made-up figures ------------------------------------------------------

def cell(server, runtime, workload, cpu, rps=None, slices=None, status="ok", settled=True,
         runs=None):
    """runs: (min, max) of the cell's CPU per request; else every run at cpu."""
    s = lambda v, r=None: {"median": v, "min": (r or (v, v))[0],  # noqa: E731
                           "max": (r or (v, v))[1], "n": 3}
    c = {"server": server, "runtime": runtime, "workload": workload, "status": status,
         "label": srvs.BY_KEY[server].label, "group": srvs.BY_KEY[server].group,
         "error": "why" if status != "ok" else None, "runs": []}
    if status == "ok":
        c["summary"] = {"cpu_per_request_us": s(cpu, runs), "requests_per_s": s(rps or 1e6 / cpu),
                        "errors": 0, "requests": 300}
    if slices:
        c["warmup"] = {"slices": [{"cpu_us": v, "requests": 100, "requests_per_s": r}
                                  for v, r in slices],
                       "settled": settled, "requests": 100 * len(slices)}
    return c


def data_of(cells, workloads=("close-chrome",), runtimes=("cpython", "pypy")):
    return {"matrix": "quick", "label": "", "complete": True,
            "machine": {"date": "2026-11-26", "git_commit": "abc", "cpu_model": "cpu",
                        "cores": 2, "kernel": "k", "load_average_at_start": [1.0, 1.0, 1.0]},
            "parameters": {"workloads": list(workloads), "runtimes": list(runtimes),
                           "requests": 1900, "warmup": 400, "runs": 3, "counted_per_run": 1500,
                           "threads": 4, "connections": 40, "server_cpu": 0, "client_cpu": 1,
                           "cell_seconds": 0, "full_size": [], "full_rate": 2000,
                           "warmup_rule": survey.WARMUP_RULE},
            "elapsed_s": 60, "cells": cells}


def ladder_cells(rt, w, anvil, uvicorn):
    """anvil: (step 1, 2, 3) µs; uvicorn: {(loop, http): µs}."""
    out = [cell(k, rt, w, v) for k, v in zip(("ref-python", "ref-fast", "anvil-fast"), anvil)]
    out += [cell(f"uvicorn-{loop}-{http}", rt, w, v) for (loop, http), v in uvicorn.items()]
    return out


def test_the_2x2_gives_both_moves_at_its_margins():
    cells = report.Cells(data_of(ladder_cells("cpython", "close-chrome", (45, 43, 36), {
        ("asyncio", "h11"): 120.0, ("asyncio", "httptools"): 90.0, ("uvloop", "h11"): 80.0,
        ("uvloop", "httptools"): 50.0})))
    table = report.uvicorn_table(cells, "cpython", "close-chrome")
    assert "+30.0 µs (1.33x)" in table  # asyncio: h11 − httptools
    assert "+30.0 µs (1.60x)" in table  # uvloop: h11 − httptools
    assert "+40.0 µs (1.50x)" in table  # h11: asyncio − uvloop
    assert "both: +70.0 µs (2.40x)" in table


def test_the_ladders_disagree_on_the_loop_and_the_report_says_why():
    # The parser: 27% of anvil's request, 20% and 18% of uvicorn's: both hold.
    # The loop: anvil's 1.14x (16 → 14), uvicorn's 1.8x (40 µs saved): they differ.
    cells = report.Cells(data_of(ladder_cells("cpython", "keepalive-chrome", (22, 16, 14), {
        ("asyncio", "h11"): 100.0, ("asyncio", "httptools"): 80.0, ("uvloop", "h11"): 55.0,
        ("uvloop", "httptools"): 45.0}), workloads=("keepalive-chrome",)))
    agree, differ = report.ladders_agree(cells)
    assert len(differ) == 1 and ", loop: anvil's Python loop 1.14x" in differ[0]
    assert "uvicorn's Python loop does more per request" in differ[0]
    assert "saves 40.0 µs against anvil's 2.0 µs" in differ[0]
    assert len(agree) == 1 and ", parser: anvil's Python parser 27%" in agree[0]
    md = "\n".join(report.uvicorn_section(cells))
    assert "They do not, and why" in md


def test_the_wsgi_adapters_cost_explains_a_dearer_uvicorn_request():
    # The loop: anvil's 1.61x (17 µs saved), uvicorn's 1.3x though it saves
    # 30 µs: the rest of its request (130 µs, 70 of them the WSGI adapter)
    # makes the larger saving the smaller ratio.
    cells = ladder_cells("cpython", "close-chrome", (50, 45, 28), {
        ("asyncio", "h11"): 140.0, ("asyncio", "httptools"): 130.0, ("uvloop", "h11"): 110.0,
        ("uvloop", "httptools"): 100.0})
    cells.append(cell("uvicorn-asgi", "cpython", "close-chrome", 30.0))
    md = "\n".join(report.uvicorn_section(report.Cells(data_of(cells))))
    assert "costs 100.0 µs per request with the WSGI app, 30.0 µs with the same response from " \
           "an ASGI app: +70.0 µs (70% of the request)" in md
    agree, differ = report.ladders_agree(report.Cells(data_of(cells)))
    loop = [d for d in differ if ", loop:" in d][0]
    assert "uvicorn's request costs more around the loop (130.0 µs with it in Python, against " \
           "45.0 µs in anvil's), which makes even a larger saving a smaller share of it" in loop
    assert "uvicorn's WSGI adapter alone takes 70.0 µs" in loop
    assert "does more per request" not in loop


def test_a_move_that_saves_nothing_is_called_noise():
    cells = ladder_cells("cpython", "keepalive-chrome", (22, 24, 14), {
        ("asyncio", "h11"): 100.0, ("asyncio", "httptools"): 80.0, ("uvloop", "h11"): 90.0,
        ("uvloop", "httptools"): 70.0})
    _, differ = report.ladders_agree(report.Cells(data_of(cells, workloads=("keepalive-chrome",))))
    parser = [d for d in differ if ", parser:" in d][0]
    assert "anvil's move saves nothing measurable here (-2.0 µs: within this run's noise)" in parser


def test_the_ladders_agree():
    cells = report.Cells(data_of(ladder_cells("cpython", "close-chrome", (45, 43, 36), {
        ("asyncio", "h11"): 50.0, ("asyncio", "httptools"): 48.0, ("uvloop", "h11"): 40.0,
        ("uvloop", "httptools"): 38.0})))
    agree, differ = report.ladders_agree(cells)
    assert differ == [] and len(agree) == 2


def test_pypy_cells_that_are_not_available_show_their_reason():
    cells = ladder_cells("pypy", "close-chrome", (44, 43, 38), {("asyncio", "h11"): 60.0})
    cells += [cell(f"uvicorn-uvloop-{h}", "pypy", "close-chrome", None, status="not available")
              for h in ("h11", "httptools")]
    md = "\n".join(report.uvicorn_section(report.Cells(data_of(cells, runtimes=("pypy",)))))
    assert "| uvloop (C loop) | n/a | n/a |" in md and "Not available: " in md and "why" in md


def test_the_contradiction_is_explained_when_the_warm_up_flips_the_order():
    cells = [cell("twisted", "cpython", "close-chrome", 250, rps=3800,
                  slices=[(260, 3700), (251, 3790)]),
             cell("twisted", "pypy", "close-chrome", 160, rps=4100,
                  slices=[(600, 2400), (300, 3000), (170, 3900), (165, 4000)])]
    rows = report.contradiction_rows(report.Cells(data_of(cells)))
    text = report.contradiction_verdicts(rows)[0]
    assert "PyPy serves 4,100 requests/s against CPython's 3,800" in text
    assert "PyPy is faster" in text and "4 warm-up slices" in text
    assert "from 600.0 µs in the first slice to 165.0 µs" in text
    assert "the opposite order" in text
    table = report.contradiction_table(rows)
    assert "| 4 (400) |" in table


def test_claim_4_cites_both_ladders():
    cells = report.Cells(data_of(ladder_cells("cpython", "close-chrome", (45, 43, 36), {
        ("asyncio", "h11"): 120.0, ("asyncio", "httptools"): 90.0, ("uvloop", "h11"): 60.0,
        ("uvloop", "httptools"): 50.0})))
    claims = {c[0].split(" (")[0]: c for c in report.claims(cells)}
    _, verdict, evidence = claims["On CPython 'running a loop in C' is still very important"]
    assert "anvil's ladder: does not hold, the Python loop costs 1.19x" in verdict
    assert "uvicorn's: holds, asyncio costs 1.90x" in verdict  # median of 2.00x and 1.80x
    assert "uvicorn with h11" in evidence


def test_the_readme_section_carries_the_runs_note():
    data = data_of(ladder_cells("cpython", "close-chrome", (45, 43, 36), {}))
    assert "Note on this run" not in "\n".join(report.readme_section(data))
    data["label"] = "core 1 was shared from 10:58 to 12:04"
    assert ("**Note on this run:** core 1 was shared from 10:58 to 12:04"
            in report.readme_section(data))


def test_write_section_replaces_only_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# t\n\n<!-- survey:begin -->\nold\n<!-- survey:end -->\n\nafter\n")
    measure.write_section(readme, "survey", "new\n")
    assert readme.read_text() == ("# t\n\n<!-- survey:begin -->\n\nnew\n\n<!-- survey:end -->"
                                  "\n\nafter\n")
    measure.write_section(readme, "apps", "x")
    assert readme.read_text().endswith("<!-- apps:begin -->\n\nx\n\n<!-- apps:end -->\n")


# --- ladder differences and the runs' spread ---------------------------------------------

def noisy_ladder(rt="pypy", w="keepalive-chrome"):
    """Issue 12's PyPy demo: step 1 − 2 came out at −18.2 µs from runs that
    spread wider than that; step 2 − 3 at 15.6 µs from tight runs."""
    return [cell("ref-python", rt, w, 30.0, runs=(22.0, 52.0)),
            cell("ref-fast", rt, w, 48.2, runs=(47.7, 48.7)),
            cell("anvil-fast", rt, w, 32.6, runs=(32.0, 33.0)),
            cell("anvil-pynative", rt, w, 10.0, runs=(9.5, 10.5)),
            cell("anvil-native", "native", w, 4.0, runs=(3.9, 4.2))]


def test_difference_text_prints_a_difference_or_within_noise():
    d = measure.difference
    a, b = {"median": 10.0, "min": 9.0, "max": 11.0}, {"median": 9.0, "min": 8.5, "max": 9.5}
    assert report.difference_text(d(a, b)) == "within noise (spread 3.0 µs)"
    far = {"median": 20.0, "min": 19.5, "max": 20.5}
    assert report.difference_text(d(far, b)) == "11.0"
    assert report.difference_text(d(far, b), unit=" µs") == "11.0 µs"
    assert report.difference_text(far) == "20.0 (19.5–20.5)"  # a cell's own figure
    assert report.difference_text(None) == "—"


def test_the_demo_never_prints_a_difference_inside_its_runs_spread():
    data = data_of(noisy_ladder(), workloads=("keepalive-chrome",), runtimes=("pypy",))
    text = report.ladder_text(data)
    steps = {ln.split("  ")[0]: ln for ln in text.splitlines()
             if ln.startswith(("parser moved", "loop moved", "the app call", "what is left"))}
    assert "within noise (spread 31.0 µs)" in steps["parser moved into C++ (1 − 2)"]
    assert "-18.2" not in text and "−18.2" not in text
    assert steps["loop moved into C++ (2 − 3)"].split()[-1] == "15.6"
    assert steps["the app call through WSGI (3 − 4)"].split()[-1] == "22.6"
    assert steps["what is left: kernel, C++ loop, parse (4)"].endswith("10.0 (9.5–10.5)")
    assert "30.0 (22.0–52.0)" in text and "4.0 (3.9–4.2)" in text  # each step's runs
    assert report.NOISE_RULE in text


def test_the_surveys_ladder_table_uses_the_same_rule():
    cells = report.Cells(data_of(noisy_ladder(), workloads=("keepalive-chrome",),
                                 runtimes=("pypy",)))
    table = report.ladder_diff_table(cells)
    row = lambda name: next(ln for ln in table.splitlines() if ln.startswith(f"| {name}"))  # noqa: E731,E501
    assert row("parser moved").endswith("| within noise (spread 31.0 µs) |")
    assert row("loop moved").endswith("| 15.6 |")
    assert report.NOISE_RULE in table


def test_the_second_ladders_tables_use_the_same_rule():
    w = "keepalive-chrome"
    cells = noisy_ladder("cpython", w) + [
        cell("uvicorn-asyncio-h11", "cpython", w, 120.0, runs=(100.0, 140.0)),
        cell("uvicorn-asyncio-httptools", "cpython", w, 110.0, runs=(105.0, 115.0)),
        cell("uvicorn-uvloop-h11", "cpython", w, 80.0, runs=(79.0, 81.0)),
        cell("uvicorn-uvloop-httptools", "cpython", w, 50.0, runs=(49.0, 51.0))]
    cells = report.Cells(data_of(cells, workloads=(w,), runtimes=("cpython",)))
    two = report.uvicorn_table(cells, "cpython", w)
    assert "| asyncio (Python loop) | 120.0" in two
    assert two.splitlines()[2].endswith("| within noise (spread 50.0 µs) |")  # asyncio: h11 − h.
    assert two.splitlines()[3].endswith("| +30.0 µs (1.60x) |")  # uvloop: h11 − httptools
    assert "| within noise (spread 42.0 µs) | +60.0 µs (2.20x) | both: +70.0 µs (2.40x) |" in two
    side = report.ladders_table(cells)
    assert ("| within noise (spread 31.0 µs) | on asyncio: within noise (spread 50.0 µs)<br>on "
            "uvloop: +30.0 µs (1.60x) | +15.6 µs (1.48x) |") in side


def test_compare_says_which_cells_and_differences_agree_between_two_runs():
    a = data_of(noisy_ladder(), workloads=("keepalive-chrome",), runtimes=("pypy",))
    moved = noisy_ladder()
    moved[2] = cell("anvil-fast", "pypy", "keepalive-chrome", 40.0, runs=(39.5, 41.0))
    b = data_of(moved, workloads=("keepalive-chrome",), runtimes=("pypy",))
    text = report.compare_text(a, b)
    row = lambda start: next(ln for ln in text.splitlines() if ln.startswith(start))  # noqa: E731
    assert row("| anvil.refserver (Python parser) |").endswith("| overlap |")
    assert row("| anvil WSGI (fast parser) |").endswith(
        "| 32.6 (32.0–33.0) | 40.0 (39.5–41.0) | **apart** |")
    assert "4 of 5 cells' ranges overlap." in text
    # 2 − 3: 15.6 (14.7 to 16.7) in A, 8.2 (6.7 to 9.2) in B; 1 − 2 within noise in both.
    assert row("| loop moved").endswith("| 15.6 | 8.2 | **differ** |")
    assert row("| parser moved").endswith("| agree |")
    assert row("| the app call").endswith("| 22.6 | 30.0 | **differ** |")


def test_compare_reads_two_results_files(tmp_path):
    data = data_of(noisy_ladder(), workloads=("keepalive-chrome",), runtimes=("pypy",))
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for p in paths:
        p.write_text(json.dumps(data))
    r = subprocess.run([PYTHON, os.path.join(SURVEY, "survey.py"), "--compare"]
                       + [str(p) for p in paths], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == report.compare_text(data, data) + "\n"
    assert "5 of 5 cells' ranges overlap." in r.stdout


# --- end to end: a run, interrupted, resumed --------------------------------------------

@pytest.mark.skipif(not os.access(HAMMER, os.X_OK), reason="build/bin/hammer is not built")
def test_a_run_warms_each_cell_and_resume_measures_only_what_is_missing(tmp_path):
    out = tmp_path / "survey.json"
    argv = [PYTHON, os.path.join(SURVEY, "survey.py"), "--servers", "anvil-fast,ref-fast",
            "--runtimes", "cpython", "--workloads", "keepalive-chrome", "--requests", "700",
            "--warmup", "400", "--runs", "2", "--no-install", "--out", str(out)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["complete"] and data["matrix"] == "reduced"
    assert data["parameters"]["warmup_rule"] == survey.WARMUP_RULE
    for c in data["cells"]:
        assert c["status"] in ("ok", "errors"), c.get("error")
        wu = c["warmup"]
        assert 2 <= len(wu["slices"]) <= 12 and all(s["requests"] == 200 for s in wu["slices"])
        assert wu["requests"] == 200 * len(wu["slices"]) and all(s["cpu_us"] for s in wu["slices"])
        assert len(c["runs"]) == 2 and c["counted_per_run"] == 300 and not c["capped"]
    assert (tmp_path / "SURVEY.md").exists() and (tmp_path / "survey-ladders.png").exists()
    # An interrupted run: the second cell never finished.
    first = data["cells"][0]
    data["cells"] = [first]
    data["complete"] = False
    out.write_text(json.dumps(data))
    r = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "1 cells kept" in r.stdout and "(kept, --resume)" in r.stdout
    again = json.loads(out.read_text())
    assert again["complete"] and len(again["cells"]) == 2 and again["cells"][0] == first
    assert again["cells"][1]["server"] == "ref-fast" and again["resumes"]
    # Other parameters: --resume refuses to mix them.
    r = subprocess.run(argv[:-2] + ["--runs", "3", "--out", str(out), "--resume"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "other parameters" in r.stderr


# --- --interleave: the counted runs in rounds across the cells ----------------------------

class _FakeOpen:
    """Stands in for survey.OpenCell: records each run, close and stop in order."""

    def __init__(self, name, order):
        self.name, self.order, self.closed = name, order, False

    def run(self, client):
        self.order.append(("run", self.name))

    def close(self):
        self.closed = True
        self.order.append(("close", self.name))
        return {"server": self.name, "closed": True}

    def stop(self):
        if not self.closed:
            self.order.append(("stop", self.name))


def _fake_cells(monkeypatch, order, fail=()):
    def fake_open(server_def, runtime, workload, files, args, client):
        order.append(("open", server_def.key))
        if server_def.key in fail:
            return {"server": server_def.key, "status": "failed"}, None
        return {"server": server_def.key}, _FakeOpen(server_def.key, order)

    monkeypatch.setattr(survey, "open_cell", fake_open)
    return [(srvs.BY_KEY[k], "cpython", "keepalive-chrome") for k in ("ref-fast", "anvil-fast",
                                                                      "ref-python")]


def test_interleave_warms_every_cell_first_then_takes_one_run_of_each_per_round(monkeypatch):
    order = []
    cells = _fake_cells(monkeypatch, order, fail=("anvil-fast",))
    out = survey.run_interleaved(cells, {}, args_of("--runs", "2"), client=None)
    assert [c["server"] for c in out] == ["ref-fast", "anvil-fast", "ref-python"]
    assert out[1]["status"] == "failed" and out[0]["closed"] and out[2]["closed"]
    assert order == [("open", "ref-fast"), ("open", "anvil-fast"), ("open", "ref-python"),
                     ("run", "ref-fast"), ("run", "ref-python"),
                     ("run", "ref-fast"), ("run", "ref-python"),
                     ("close", "ref-fast"), ("close", "ref-python")]


def test_an_interrupted_interleaved_run_stops_every_server_it_started(monkeypatch):
    order = []
    cells = _fake_cells(monkeypatch, order)

    def interrupted(self, client):
        order.append(("run", self.name))
        if self.name == "anvil-fast":
            raise KeyboardInterrupt

    monkeypatch.setattr(_FakeOpen, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        survey.run_interleaved(cells, {}, args_of("--runs", "3"), client=None)
    assert sorted(e for e in order if e[0] == "stop") == [
        ("stop", "anvil-fast"), ("stop", "ref-fast"), ("stop", "ref-python")]


@pytest.mark.parametrize("argv, expected", [
    (["--demo"], True), (["--demo", "--no-interleave"], False), ([], False),
    (["--quick"], False), (["--quick", "--interleave"], True)])
def test_the_demo_interleaves_by_default(argv, expected):
    assert args_of(*argv).interleave is expected


def test_an_interleaved_run_measures_every_cell_with_its_runs(tmp_path):
    out = tmp_path / "survey.json"
    argv = [PYTHON, os.path.join(SURVEY, "survey.py"), "--servers", "anvil-fast,ref-fast",
            "--runtimes", "cpython", "--workloads", "keepalive-chrome", "--requests", "700",
            "--warmup", "400", "--runs", "3", "--no-install", "--interleave", "--out", str(out)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "then 3 rounds of one counted run each" in r.stdout
    assert "taken in rounds across the cells" in r.stdout
    data = json.loads(out.read_text())
    assert [c["server"] for c in data["cells"]] == ["anvil-fast", "ref-fast"]
    for c in data["cells"]:
        assert c["status"] in ("ok", "errors"), c.get("error")
        assert len(c["runs"]) == 3 and c["summary"]["cpu_per_request_us"]["n"] == 3


def test_paired_differences_cancel_a_slow_spell_that_lifts_a_whole_round():
    # Rounds 2 and 4 ran in a slow spell: both cells 10 µs dearer there.
    a, b = [30.0, 40.0, 30.0, 40.0, 31.0], [20.0, 30.0, 20.0, 30.0, 20.0]
    paired = measure.paired_difference(a, b)
    assert paired["median"] == 10.0 and paired["spread"] == 1.0 and not paired["within_noise"]
    unpaired = measure.difference(measure.summarize(a), measure.summarize(b))
    assert unpaired["within_noise"] and unpaired["spread"] == 20.0
    # A difference that flips from round to round stays within noise.
    assert measure.paired_difference([30.0, 20.0, 31.0], [25.0, 26.0, 25.0])["within_noise"]
    assert measure.paired_difference([1.0], [1.0, 2.0]) is None
    assert measure.paired_difference(None, [1.0]) is None


def _with_runs(c, values):
    c["runs"] = [{"cpu_per_request_us": v} for v in values]
    return c


def test_an_interleaved_demo_judges_its_ladder_round_by_round():
    rt, w = "pypy", "keepalive-chrome"
    slow = (0.0, 9.0, 0.0, 9.0, 0.0)  # the machine's slow spells, per round
    steps = {"ref-python": 25.0, "ref-fast": 20.0, "anvil-fast": 21.0, "anvil-pynative": 15.0}
    cells = [_with_runs(cell(k, rt, w, v, runs=(v, v + 9.0)), [v + s for s in slow])
             for k, v in steps.items()]
    cells.append(cell("anvil-native", "native", w, 14.0))
    data = data_of(cells, workloads=(w,), runtimes=(rt,))
    text = report.ladder_text(data)
    assert report.NOISE_RULE in text and "within noise (spread" in text  # runs' ranges overlap
    data["interleaved"] = True
    text = report.ladder_text(data)
    assert report.NOISE_RULE_PAIRED in text and "within noise (spread" not in text
    steps_out = {ln.split("  ")[0]: ln.split()[-1] for ln in text.splitlines()
                 if ln.startswith(("parser moved", "loop moved", "the app call"))}
    assert steps_out == {"parser moved into C++ (1 − 2)": "5.0",
                         "loop moved into C++ (2 − 3)": "-1.0",
                         "the app call through WSGI (3 − 4)": "6.0"}


def test_a_merge_drops_the_rounds_of_an_interleaved_run():
    old = data_of([cell("ref-fast", "cpython", "close-chrome", 10.0)])
    old.update(interleaved=True, merges=[])
    new = data_of([cell("anvil-fast", "cpython", "close-chrome", 9.0)])
    new["machine"]["date"] = "2026-11-27"
    new["parameters"]["servers"] = ["anvil-fast"]
    old["parameters"]["servers"] = ["ref-fast"]
    merged = survey.merge(old, new)
    assert "interleaved" not in merged and len(merged["cells"]) == 2


def test_interleave_cannot_resume(capsys):
    with pytest.raises(SystemExit) as e:
        args_of("--interleave", "--resume")
    assert e.value.code == 2 and "cannot --resume" in capsys.readouterr().err
