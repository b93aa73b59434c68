"""pytest fixtures for the anvil server tests (see support.py)."""

import os

import pytest

from support import SERVER_PYTHON, Server


@pytest.fixture
def start_server():
    """start_server(app, *args, binds=...) -> Server; every server is stopped after the test."""
    servers = []

    def start(app, *args, **kwargs):
        s = Server(app, *args, **kwargs)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


# Set by tests/sanitize/run.sh: the folder where every process under test
# writes its sanitizer reports (ASAN_OPTIONS/UBSAN_OPTIONS/TSAN_OPTIONS log_path).
SANITIZER_LOG_DIR = os.environ.get("ANVIL_SANITIZER_LOG_DIR")


@pytest.fixture(autouse=True)
def no_sanitizer_report():
    """Fails the test after which a sanitizer report appeared (any process)."""
    if not SANITIZER_LOG_DIR:
        yield
        return
    before = set(os.listdir(SANITIZER_LOG_DIR))
    yield
    new = sorted(set(os.listdir(SANITIZER_LOG_DIR)) - before)
    if new:
        texts = []
        for name in new:
            with open(os.path.join(SANITIZER_LOG_DIR, name), errors="replace") as f:
                texts.append(f"==== {name}\n{f.read(20000)}")
        pytest.fail("sanitizer report(s):\n" + "\n".join(texts), pytrace=False)


def pytest_report_header(config):
    return f"anvil server interpreter: {SERVER_PYTHON} (ANVIL_TEST_PYTHON)"
