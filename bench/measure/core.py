"""One measurement: a counted client run between two CPU snapshots of the server."""

from .cpu import snapshot


def counted_run(server, client, request_file, close, requests, connections=40, rate=None,
                warmup=0, client_cpu=1):
    """A warm-up run (not counted) if warmup, then `requests` requests between
    two snapshots of the server tree's CPU time. Returns the client's figures
    and the server's CPU per request answered, both ways:
    schedstat_per_request_us (nanosecond clock) and cpu_per_request_us_ticks
    (user+sys, 10 ms ticks)."""
    if warmup:
        client.run(server.host, server.port, request_file, close, warmup, connections,
                   cpu=client_cpu)
    before = snapshot(server.pid)
    result = client.run(server.host, server.port, request_file, close, requests, connections,
                        rate=rate, cpu=client_cpu)
    cpu = snapshot(server.pid) - before
    if server.proc.poll() is not None:
        raise RuntimeError(f"server exited ({server.proc.returncode}) during the run")
    answered = result.answered
    out = result.as_dict()
    out.update({
        "client": client.name, "close": close, "rate": rate, "connections": connections,
        "warmup": warmup, "server_user_s": round(cpu.user_s, 3),
        "server_sys_s": round(cpu.sys_s, 3), "server_cpu_s": round(cpu.runtime_s, 6),
        "schedstat_per_request_us": (round(cpu.runtime_s * 1e6 / answered, 3)
                                     if answered else None),
        "cpu_per_request_us_ticks": (round((cpu.user_s + cpu.sys_s) * 1e6 / answered, 3)
                                     if answered else None),
    })
    return out
