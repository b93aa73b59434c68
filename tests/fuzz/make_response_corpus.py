#!/usr/bin/python3
"""Writes the seed corpus of response_fuzz into tests/fuzz/corpus-response/.

Each seed is the 7-byte header that response_fuzz.cpp decodes (flags, HEAD
pattern, limits, fragmentation) followed by the bytes a server sent. Seeds
come from
  * every `mode: response` case of tests/parser/cases/*.txt (the format of
    tests/parser/corpus.hpp), with its head_response and, where one seed byte
    can express them, its limits;
  * the responses of hammer's test server (tests/loadgen/test_server.cpp:
    Content-Length, chunked with an extension and a trailer, until close;
    answers to HEAD) and of its raw-response tests (tests/loadgen/engine_test.cpp);
  * the response seeds of parser_fuzz (make_corpus.py), and streams of several
    keep-alive responses with HEAD answers among them, as hammer reads them.
Seeds are named seed-*; this script replaces only those, so the inputs that
`make fuzz` merged in (named by their SHA-1) stay. The files are checked in,
so the fuzzer and the replay test need no Python.
"""
import pathlib
import re

import make_corpus

HERE = pathlib.Path(__file__).resolve().parent
CASES = HERE.parent / "parser" / "cases"
OUT = HERE / "corpus-response"

SMALL_LIMITS = 1
# The fast parser's head scanner (flags bits 1-2).
BEST, AVX2, SSE42, GENERIC = 0, 1 << 1, 2 << 1, 3 << 1
FEW, EVERY_N, EVERY_BYTE, MANY = make_corpus.FEW, make_corpus.EVERY_N, make_corpus.EVERY_BYTE, make_corpus.MANY
ALL_HEAD = 0xFF
# small_limits() in fuzz_support.hpp: bit per Limits member, and the value that
# one seed byte v gives it.
LIMIT_BITS = {"request_line": 1, "header_bytes": 2, "fields": 4, "body": 8, "chunk_extension": 16}
LIMIT_SEED = {
    "request_line": lambda n: n - 1 if 1 <= n <= 128 else None,
    "header_bytes": lambda n: (n - 1) // 2 if n % 2 == 1 and n <= 511 else None,
    "fields": lambda n: n - 1 if 1 <= n <= 16 else None,
    "body": lambda n: n if n <= 255 else None,
    "chunk_extension": lambda n: n - 1 if 1 <= n <= 32 else None,
}


def header(flags=0, head_pattern=0, limit_mask=0, limit_value=0, style=FEW, seed=7):
    return bytes([flags, head_pattern, limit_mask, limit_value, style, seed >> 8 & 0xFF, seed & 0xFF])


# --- tests/parser/cases (format: tests/parser/corpus.hpp) ------------------------

ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\"}
REPEAT = re.compile(r"\{\{(\d+)\*(.*?)\}\}")


def unescape(line):
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c != "\\":
            out.append(c)
            i += 1
        elif line[i + 1] == "x":
            out.append(chr(int(line[i + 2:i + 4], 16)))
            i += 4
        else:
            out.append(ESCAPES[line[i + 1]])
            i += 2
    return "".join(out)


def input_bytes(lines):
    text = "".join(unescape(REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), ln.rstrip(" \t")))
                   for ln in lines)
    return text.encode("latin-1")


def response_cases():
    """(name, head_response, limits dict, input bytes) of every response case."""
    for path in sorted(CASES.glob("*.txt")):
        case = None
        for line in path.read_text(encoding="utf-8").split("\n") + ["=== "]:
            if line.startswith("=== "):
                if case and case["mode"] == "response":
                    yield case["name"], case["head"], case["limits"], input_bytes(case["input"])
                case = {"name": line[4:].strip(), "mode": "request", "head": False, "limits": {},
                        "input": [], "in_input": False}
            elif case is None or line.startswith("#"):
                continue
            elif line == "input:":
                case["in_input"] = True
            elif line == "expect:":
                case["in_input"] = False
            elif case["in_input"]:
                case["input"].append(line)
            elif line.startswith("mode:"):
                case["mode"] = line.split(":", 1)[1].strip()
            elif line.startswith("head_response:"):
                case["head"] = line.split(":", 1)[1].strip() == "true"
            elif line.startswith("limits:"):
                case["limits"] = dict((k, int(v)) for k, v in
                                      (kv.split("=") for kv in line.split(":", 1)[1].split()))


def limit_header_fields(limits):
    """(flags, mask, value) for small_limits(), or no limits when one byte cannot say them."""
    seeds = {LIMIT_SEED[k](v) for k, v in limits.items()}
    if not limits or None in seeds or len(seeds) != 1:
        return 0, 0, 0
    return SMALL_LIMITS, sum(LIMIT_BITS[k] for k in limits), seeds.pop()


# --- hammer's test server (tests/loadgen/test_server.cpp) ------------------------

def test_server_response(framing, body=b"Hello, World!", status=200, close=False, head=False):
    r = f"HTTP/1.1 {status} Test\r\n".encode()
    if close or framing == "until_close":
        r += b"Connection: close\r\n"
    if framing == "content_length":
        r += b"Content-Length: %d\r\n" % len(body)
        payload = body
    elif framing == "chunked":
        r += b"Transfer-Encoding: chunked\r\n"
        half = len(body) // 2
        payload = b"%x;ext=1\r\n%s\r\n" % (half, body[:half]) if half else b""
        payload += b"%X\r\n%s\r\n0\r\nX-Trailer: yes\r\n\r\n" % (len(body) - half, body[half:])
    else:
        payload = body
    return r + b"\r\n" + (b"" if head else payload)


ENGINE_TEST_RAW = {
    "bad-content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
    "body-cut-short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
    "bad-chunk-end": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
    "chunked-cut-short": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    "bad-status-line": b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "closed-without-answer": b"",
    "interim-then-final": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
}


def write(name, data):
    (OUT / f"seed-{name}").write_bytes(data)


def main():
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("seed-*"):
        old.unlink()
    for i, (name, head, limits, data) in enumerate(response_cases()):
        flags, mask, value = limit_header_fields(limits)
        write(f"case-{name}", header(flags | (i % 4) << 1, ALL_HEAD if head else 0, mask, value,
                                     style=i % 4, seed=i * 29) + data)
    for i, (name, data) in enumerate(make_corpus.RESPONSE_SEEDS.items()):
        write(f"parser-{name}", header(style=(i + 1) % 4, seed=i * 43) + data)
    for i, framing in enumerate(("content_length", "chunked", "until_close")):
        write(f"test-server-{framing}", header(style=i, seed=i * 3 + 1) + test_server_response(framing))
        write(f"test-server-{framing}-head", header(head_pattern=ALL_HEAD, style=EVERY_BYTE)
              + test_server_response(framing, head=True))
        write(f"test-server-{framing}-404", header(style=MANY, seed=i + 5)
              + test_server_response(framing, b"x" * 1000, status=404))
    keep_alive = b"".join(test_server_response(f) for f in ("content_length", "chunked", "content_length"))
    write("test-server-keep-alive-three", header(style=MANY, seed=17) + keep_alive)
    write("test-server-close-after", header(style=FEW, seed=2)
          + test_server_response("content_length", close=True) + test_server_response("content_length"))
    # GET, HEAD, GET, HEAD ... on one connection: pattern bit i = request i was a HEAD.
    mixed = b"".join(test_server_response("content_length", head=i % 2 == 1) for i in range(4))
    write("test-server-get-head-pipelined", header(head_pattern=0b1010, style=EVERY_N, seed=5) + mixed)
    interim_head = (b"HTTP/1.1 100 Continue\r\n\r\n" + test_server_response("content_length", head=True)
                    + test_server_response("chunked"))
    write("test-server-interim-then-head", header(head_pattern=0b01, style=MANY, seed=23) + interim_head)
    for i, (name, data) in enumerate(ENGINE_TEST_RAW.items()):
        write(f"engine-{name}", header(style=i % 4, seed=i * 11) + data)
    for variant, vname in ((SSE42, "sse42"), (GENERIC, "generic")):
        long_fields = (b"HTTP/1.1 200 OK\r\nSet-Cookie: " + b"k=v0123456789; " * 100
                       + b"\r\nX-A: \tb\t\r\nContent-Length: 2\r\n\r\nok")
        write(f"long-fields-{vname}", header(variant, style=FEW, seed=11) + long_fields)


if __name__ == "__main__":
    main()
