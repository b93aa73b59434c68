"""bench/server/compare_builds.py: two packages side by side, one short end-to-end
run (the same package on both sides), and its refusals of bad arguments."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPARE = os.path.join(ROOT, "bench", "server", "compare_builds.py")
PACKAGE = os.path.join(ROOT, "python")
HAMMER = os.path.join(ROOT, "build", "bin", "hammer")


def compare(*args, timeout=240):
    return subprocess.run([sys.executable, COMPARE, *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.skipif(not os.access(HAMMER, os.X_OK), reason="build/bin/hammer is not built")
def test_one_cell_both_sides_interleaved():
    r = compare("--before", PACKAGE, "--after", PACKAGE, "--cells", "cpython-capi",
                "--reps", "2", "--requests", "300")
    assert r.returncode == 0, r.stderr
    runs = re.findall(r"^rep (\d) cpython-capi +(before|after) +[0-9.]+ µs/request$", r.stdout,
                      re.M)
    assert runs == [("0", "before"), ("0", "after"), ("1", "before"), ("1", "after")]
    assert re.search(r"^cpython-capi +before .* after .* after/before [0-9.]+", r.stdout, re.M)
    assert "load average at the start" in r.stdout


@pytest.mark.parametrize("args,error", [
    (["--cells", "jython-capi"], "unknown cell 'jython-capi'"),
    (["--reps", "0"], "--reps must be at least 1"),
    (["--requests", "5"], "--requests at least 100"),
])
def test_bad_arguments_exit_2(args, error):
    r = compare("--before", PACKAGE, "--after", PACKAGE, *args)
    assert r.returncode == 2 and error in r.stderr


def test_a_folder_without_the_package_exits_2(tmp_path):
    r = compare("--before", str(tmp_path), "--after", PACKAGE)
    assert r.returncode == 2 and "no anvil/ package there" in r.stderr
