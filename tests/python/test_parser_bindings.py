"""anvil.parser: both C++ parsers through the _core bindings, and the
pure-Python parser (anvil.pyparser) held to the same table.

Every case runs whole and split at every byte, through each interface a
Python loop uses (feed_messages, the packed form PyPy uses, feed/next), and
the results must agree with each other and with the expected messages. The
last tests run the same table under $ANVIL_TEST_PYTHON (PyPy in the suite's
second pass) in a subprocess.
"""

import json
import os
import subprocess
import sys

import pytest

from support import PACKAGE_DIR, ROOT

sys.path.insert(0, PACKAGE_DIR)

from anvil import parser as ap  # noqa: E402
OTHER_PYTHON = (os.environ.get("ANVIL_TEST_PYTHON") or os.environ.get("ANVIL_SERVER_PYTHON")
                or "/usr/bin/python3")
CPP_KINDS = ("fast", "llhttp", "http-parser")
ALL_KINDS = CPP_KINDS + ("python",)
# (kind, packed): every way a Python loop can drive a parser.
FORMS = [(k, packed) for k in CPP_KINDS for packed in (False, True)] + [("python", False)]
FORM_IDS = [f"{k}-{'packed' if packed else 'tuples'}" for k, packed in FORMS]

with open(os.path.join(ROOT, "bench", "requests", "chrome-2013.http"), "rb") as f:
    CHROME = f.read()

# (name, input, expected): expected is a list of (method, target, version,
# headers, content_length, chunked, keep_alive, expect_continue, body,
# trailers), or the HTTP status of the error that ends the input.
GOOD = [
    ("simple", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
     [("GET", "/", "HTTP/1.1", [("Host", "a")], None, False, True, False, b"", [])]),
    ("chrome_2013", CHROME,
     [("GET", "/", "HTTP/1.1", None, None, False, False, False, b"", [])]),
    ("content_length", b"POST /f?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
     [("POST", "/f?x=1", "HTTP/1.1", [("Host", "a"), ("Content-Length", "5")], 5, False, True,
       False, b"hello", [])]),
    ("chunked_with_ext_and_trailers",
     b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5;a=b;c=\"q\\\"\"\r\nhello\r\n0006\r\n world\r\n0\r\nT1: x\r\nT2:  y \r\n\r\n",
     [("POST", "/", "HTTP/1.1", [("Host", "a"), ("Transfer-Encoding", "chunked")], None, True,
       True, False, b"hello world", [("T1", "x"), ("T2", "y")])]),
    ("pipelined", b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n"
     b"Connection: close\r\n\r\n",
     [("GET", "/1", "HTTP/1.1", [("Host", "a")], None, False, True, False, b"", []),
      ("GET", "/2", "HTTP/1.1", [("Host", "a"), ("Connection", "close")], None, False, False,
       False, b"", [])]),
    ("http10_default_close", b"GET / HTTP/1.0\r\n\r\n",
     [("GET", "/", "HTTP/1.0", [], None, False, False, False, b"", [])]),
    ("http10_keep_alive", b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
     [("GET", "/", "HTTP/1.0", [("Connection", "Keep-Alive")], None, False, True, False, b"",
       [])]),
    ("expect_continue", b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
     b"Content-Length: 1\r\n\r\nx",
     [("PUT", "/", "HTTP/1.1", [("Host", "a"), ("Expect", "100-Continue"),
                                ("Content-Length", "1")], 1, False, True, True, b"x", [])]),
    ("leading_empty_lines_and_ows", b"\r\n\r\nGET / HTTP/1.1\r\nHost:a\r\nX: \t v  w \t\r\n\r\n",
     [("GET", "/", "HTTP/1.1", [("Host", "a"), ("X", "v  w")], None, False, True, False, b"",
       [])]),
    # A raw byte >= 0x80 may stand in a field value, not in a target (RULES.md).
    ("obs_text_is_latin1", b"GET /caf%C3%A9 HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n",
     [("GET", "/caf%C3%A9", "HTTP/1.1", [("Host", "a"), ("X", "caf\xe9")], None, False, True,
       False, b"", [])]),
    ("absolute_asterisk_authority_forms",
     b"GET http://a:80/p?q HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"
     b"CONNECT [::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n",
     [("GET", "http://a:80/p?q", "HTTP/1.1", None, None, False, True, False, b"", []),
      ("OPTIONS", "*", "HTTP/1.1", None, None, False, True, False, b"", []),
      ("CONNECT", "[::1]:443", "HTTP/1.1", None, None, False, True, False, b"", [])]),
    # RFC 9112 section 9.6: nothing after a closing request is parsed.
    ("nothing_after_close", b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
     b"GET /2 HTTP/1.1\r\n\x00junk",
     [("GET", "/1", "HTTP/1.1", None, None, False, False, False, b"", [])]),
    ("empty_value_and_zero_length", b"POST / HTTP/1.1\r\nHost: a\r\nX:\r\nContent-Length: 0\r\n\r\n",
     [("POST", "/", "HTTP/1.1", [("Host", "a"), ("X", ""), ("Content-Length", "0")], 0, False,
       True, False, b"", [])]),
]

BAD = [
    ("missing_host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("multiple_host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("bare_lf", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("bare_cr_cve_2023_30589", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
    ("nul_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("no_colon", b"GET / HTTP/1.1\r\nHost: a\r\nXY\r\n\r\n", 400),
    ("bad_method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("two_spaces", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("lowercase_version", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    ("http09", b"GET /\r\n\r\n", 400),
    ("version_2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("cl_plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("cl_conflict", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
    ("cl_and_te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("te_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("te_unknown", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: zip, chunked\r\n\r\n", 501),
    ("te_chunked_twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
    # Issue 9 (RULES.md): a request coding other than chunked is 501; anvil decodes none.
    ("te_gzip_chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
     b"0\r\n\r\n", 501),
    ("te_deflate_chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: deflate, chunked\r\n\r\n"
     b"0\r\n\r\n", 501),
    ("te_gzip_alone", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc", 501),
    ("te_chunked_not_last", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501),
    ("chunk_size_not_hex", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("chunk_without_crlf", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\nabX\r\n0\r\n\r\n", 400),
    ("chunk_ext_space", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2 ;a\r\nab\r\n0\r\n\r\n", 400),
    ("cut_short", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc", 400),
    # RULES.md "Request target" (issue 8: these reached the app).
    ("target_utf8", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target_fragment", b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target_bad_escape", b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target_relative", b"GET foo/bar HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target_asterisk_for_get", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target_authority_for_get", b"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target_bad_ipv6", b"GET http://[1::2::3]/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("connect_without_port", b"CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("connect_with_content", b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 400),
    # RFC 9110 section 6.5.1: framing and routing fields are no trailers.
    ("trailer_host", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\nHost: b\r\n\r\n", 400),
    ("trailer_content_length", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"1\r\nx\r\n0\r\ncontent-length: 5\r\n\r\n", 400),
]

# (name, input, limits, status)
LIMITS = [
    ("request_line", b"GET /0123456789 HTTP/1.1\r\nHost: a\r\n\r\n", {"request_line": 16}, 414),
    ("fields", b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", {"fields": 2}, 431),
    ("header_bytes", b"GET / HTTP/1.1\r\nHost: a\r\nA: 0123456789012345678901234567890\r\n\r\n",
     {"header_bytes": 32}, 431),
    ("body_by_length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd", {"body": 3}, 413),
    ("body_by_chunks", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n", {"body": 3}, 413),
]


def new_parser(kind, packed=False, **limits):
    if kind == "python":
        return ap.RequestParser(**limits)
    return ap.message_parser(kind, "request", packed=packed, **limits)


def run_pieces(parser, pieces):
    """Feeds the pieces, then the end of input; returns (messages, error status)."""
    out = []
    for piece in pieces:
        out += parser.feed_messages(piece)
        if parser.error_status:
            return out, parser.error_status
    out += parser.finish_messages()
    return out, parser.error_status


def summary(messages):
    return [head[:3] + (head[3],) + head[4:8] + (body, trailers) for head, body, trailers in messages]


def splits(data):
    """Whole, every split in two, and one byte at a time."""
    yield [data]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    yield [data[i:i + 1] for i in range(len(data))]


def check_expected(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        for i, (gv, ev) in enumerate(zip(g, e)):
            if ev is not None or i == 4:  # None in headers means "not checked"
                assert gv == ev, (i, g)


@pytest.mark.parametrize("kind,packed", FORMS, ids=FORM_IDS)
@pytest.mark.parametrize("name,data,expected", GOOD, ids=[c[0] for c in GOOD])
def test_good_messages_at_every_split(kind, packed, name, data, expected):
    for pieces in splits(data):
        messages, status = run_pieces(new_parser(kind, packed), pieces)
        assert status == 0, (name, pieces)
        check_expected(summary(messages), expected)


@pytest.mark.parametrize("kind,packed", FORMS, ids=FORM_IDS)
@pytest.mark.parametrize("name,data,status", BAD, ids=[c[0] for c in BAD])
def test_bad_messages_get_their_status_at_every_split(kind, packed, name, data, status):
    for pieces in splits(data):
        messages, got = run_pieces(new_parser(kind, packed), pieces)
        assert (messages, got) == ([], status), (name, pieces)


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("name,data,limits,status", LIMITS, ids=[c[0] for c in LIMITS])
def test_limits_map_to_statuses(kind, name, data, limits, status):
    for pieces in splits(data):
        _, got = run_pieces(new_parser(kind, **limits), pieces)
        assert got == status, (name, pieces)
    _, got = run_pieces(new_parser(kind), [data])  # the defaults accept it
    assert got == 0


@pytest.mark.parametrize("name,data,status", BAD, ids=[c[0] for c in BAD])
def test_both_cpp_parsers_give_the_same_error_code(name, data, status):
    codes = set()
    for kind in CPP_KINDS:
        p = ap.Parser(kind)
        p.feed_messages(data)
        if not p.error_status:
            p.finish_messages()
        assert p.error is not None and p.error[0] == status
        codes.add(p.error[1])
    assert len(codes) == 1, codes


def test_parse_returns_named_messages():
    (req,) = ap.parse(b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n", kind="llhttp")
    assert isinstance(req, ap.Request)
    assert (req.method, req.target, req.version) == ("GET", "/x?y=1", "HTTP/1.1")
    assert req.headers == [("Host", "h"), ("X", "1")] and req.keep_alive and req.body == b""


def test_parse_raises_with_the_messages_before_the_error():
    with pytest.raises(ap.ParseError) as info:
        ap.parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    assert (info.value.status, info.value.code) == (400, "missing_host")
    assert [m.target for m in info.value.messages] == ["/"]


@pytest.mark.parametrize("kind", CPP_KINDS)
def test_responses(kind):
    data = (b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
            b"HTTP/1.1 204 No Content\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
    for packed in (False, True):
        p = ap.message_parser(kind, "response", packed=packed)
        messages, status = run_pieces(p, [data])
        assert status == 0
        got = [ap.Response(*h, b, t) for h, b, t in messages]
        assert [(r.status, r.reason, r.body) for r in got] == [
            (100, "Continue", b""), (200, "OK", b"hi"), (204, "No Content", b""),
            (200, "OK", b"abc"), (200, "OK", b"until the end")]
        assert [r.keep_alive for r in got] == [True, True, True, True, False]
        assert got[1].content_length == 2 and got[3].chunked


@pytest.mark.parametrize("kind", CPP_KINDS)
def test_head_response_has_no_body(kind):
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"
    got = ap.parse(data, kind=kind, response=True, head_response=True)
    # No body, so no body framing either (content_length is for BodyKind::content_length).
    assert [(r.status, r.content_length, r.body) for r in got] == [(200, None, b""), (200, None, b"")]


@pytest.mark.parametrize("kind", CPP_KINDS)
def test_event_api(kind):
    p = ap.Parser(kind)
    p.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab")
    events = []
    while (ev := p.next()) is not None:
        events.append(ev)
    p.feed(b"c\r\n0\r\nT: v\r\n\r\n")
    while (ev := p.next()) is not None:
        events.append(ev)
    assert [e for e, _ in events][0] == ap.HEAD
    assert events[0][1][:3] == ("POST", "/", "HTTP/1.1") and events[0][1][5] is True
    body = b"".join(payload for e, payload in events if e == ap.BODY)
    assert body == b"abc"
    assert events[-1] == (ap.DONE, [("T", "v")])
    assert p.finish() == (ap.END, None)


@pytest.mark.parametrize("kind,packed", FORMS, ids=FORM_IDS)
def test_target_form_is_the_last_head_item(kind, packed):
    data = (b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET HTTPS://a HTTP/1.1\r\nHost: a\r\n\r\n"
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n")
    messages, status = run_pieces(new_parser(kind, packed), [data])
    assert status == 0
    assert [h[9] for h, _, _ in messages] == ["origin", "absolute", "asterisk", "authority"]
    assert [r.target_form for r in ap.parse(data, kind=kind)] == [h[9] for h, _, _ in messages]


@pytest.mark.parametrize("kind", CPP_KINDS)
def test_event_api_end_after_a_closing_request(kind):
    p = ap.Parser(kind)
    p.feed(b"GET / HTTP/1.0\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert p.next()[0] == ap.HEAD
    assert p.next() == (ap.DONE, [])
    # Nothing after it is parsed or consumed (parser.hpp), however often asked.
    assert p.next() == (ap.END, None)
    assert p.next() == (ap.END, None)
    assert p.buffered == len(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert p.finish() == (ap.END, None)


@pytest.mark.parametrize("kind", CPP_KINDS)
def test_event_api_error_and_incomplete(kind):
    p = ap.Parser(kind)
    p.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n")
    assert p.next() == (ap.ERROR, (400, "bad_field_value"))
    q = ap.Parser(kind)
    q.feed(b"GET / HTTP/1.1\r\nHo")
    assert q.next() is None
    assert q.finish() == (ap.ERROR, (400, "incomplete"))


@pytest.mark.parametrize("kind", CPP_KINDS)
def test_bytes_mode_and_buffer_inputs(kind):
    p = ap.Parser(kind, strings=False)
    data = bytearray(b"GET /%FF HTTP/1.1\r\nHost: a\r\nX: \xff\r\n\r\n")
    ((head, body, trailers),) = p.feed_messages(memoryview(data))
    assert head[:4] == (b"GET", b"/%FF", b"HTTP/1.1", [(b"Host", b"a"), (b"X", b"\xff")])


@pytest.mark.parametrize("kind", CPP_KINDS + ("python",))
def test_pending_head_and_expect_continue(kind):
    p = new_parser(kind)
    assert p.feed_messages(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                           b"Content-Length: 2\r\n\r\na") == []
    assert p.expect_continue_pending
    assert p.pending_head[:2] == ("PUT", "/") and p.pending_head[7] is True
    ((head, body, _),) = p.feed_messages(b"b")
    assert body == b"ab" and not p.expect_continue_pending and p.pending_head is None


@pytest.mark.parametrize("kind", CPP_KINDS)
def test_reset_starts_a_new_connection(kind):
    p = ap.Parser(kind)
    p.feed_messages(b"GET / HTTP/1.1\r\nHo")
    p.reset()
    ((head, _, _),) = p.feed_messages(b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head[1] == "/b"
    p.feed_messages(b"BAD\r\n\r\n")
    assert p.error_status == 400
    p.reset()
    assert p.error is None and p.feed_messages(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")


def test_bad_arguments():
    with pytest.raises(ValueError):
        ap.Parser("nope")
    with pytest.raises(ValueError):
        ap.Parser("fast", "sideways")
    with pytest.raises(ValueError):
        ap.Parser("fast", fields=0)
    with pytest.raises(ValueError):
        ap.RequestParser(fields=0)
    assert set(ap.KINDS) == set(CPP_KINDS)
    p = ap.Parser("llhttp", "response")
    assert (p.kind, p.mode) == ("llhttp", "response")


# The same table under the suite's other interpreter (PyPy in its second
# pass), through a subprocess: the packed path is PyPy's default there.
SCRIPT = r"""
import json, sys
from anvil import parser as ap
cases = json.loads(sys.stdin.read())
out = []
for data in cases:
    data = data.encode("latin-1")
    for kind in ("fast", "llhttp", "http-parser", "python"):
        for packed in (False, True):
            p = ap.RequestParser() if kind == "python" else ap.message_parser(kind, packed=packed)
            msgs = p.feed_messages(data)
            if not p.error_status:
                msgs += p.finish_messages()
            out.append([kind, p.error_status,
                        [[list(h[:3]), [list(f) for f in h[3]], list(h[4:]), b.decode("latin-1"),
                          [list(t) for t in tr]] for h, b, tr in msgs]])
print(json.dumps(out))
"""


def _run_table(python):
    inputs = [c[1].decode("latin-1") for c in GOOD + BAD]
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    proc = subprocess.run([python, "-c", SCRIPT], input=json.dumps(inputs).encode(),
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_other_interpreter_agrees():
    here = _run_table("/usr/bin/python3")
    there = _run_table(OTHER_PYTHON)
    assert there == here
    # and every kind agrees with every other on each input
    per_input = len(ALL_KINDS) * 2
    for i in range(0, len(here), per_input):
        results = {json.dumps(r[1:]) for r in here[i:i + per_input]}
        assert len(results) == 1, here[i:i + per_input]
