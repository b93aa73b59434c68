"""pytest fixtures for the anvil server tests (see support.py)."""

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



def pytest_report_header(config):
    return f"anvil server interpreter: {SERVER_PYTHON} (ANVIL_TEST_PYTHON)"
