#!/usr/bin/python3
"""Writes the seed corpus of parser_fuzz into tests/fuzz/corpus/.

Each seed is the 6-byte header that parser_fuzz.cpp decodes (mode, limits,
fragmentation) followed by the bytes fed to both parsers. Run it again after
changing the cases; the files are checked in so the fuzzer and the replay test
need no Python.
"""
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
REQUESTS = HERE.parent.parent / "bench" / "requests"

RESPONSE, HEAD_RESPONSE, SMALL_LIMITS = 1, 2, 4
# The fast parser's head scanner (flags bits 3-4).
BEST, AVX2, SSE42, GENERIC = 0, 1 << 3, 2 << 3, 3 << 3
# Fragmentation styles (byte 3): a few random cuts, every n bytes, every byte, many cuts.
FEW, EVERY_N, EVERY_BYTE, MANY = 0, 1, 2, 3


def header(flags=0, limit_mask=0, limit_value=0, style=FEW, seed=7):
    return bytes([flags, limit_mask, limit_value, style, seed >> 8 & 0xFF, seed & 0xFF])


def crlf(text):
    return text.replace("\n", "\r\n").encode("latin-1")


def chunked(*chunks, trailers=""):
    out = "".join(f"{len(c):x}\r\n{c}\r\n" for c in chunks)
    return (out + "0\r\n" + trailers.replace("\n", "\r\n") + "\r\n").encode()


GET = "GET / HTTP/1.1\nHost: a\n\n"
POST_TE = "POST /p HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"

REQUEST_SEEDS = {
    "post-content-length": crlf("POST /form HTTP/1.1\nHost: a\nContent-Length: 11\n\n") + b"hello=world",
    "post-chunked-trailers": crlf(POST_TE) + chunked("hello", " ", "world!", trailers="Checksum: abc\nX-T: 1\n"),
    "chunked-ext-upper-hex": crlf(POST_TE) + b"00A;name=val;q=\"a\\\"b\"\r\n0123456789\r\n0;x\r\n\r\n",
    "expect-continue": crlf("PUT /u HTTP/1.1\nHost: a\nExpect: 100-Continue\nContent-Length: 3\n\n") + b"abc",
    "upgrade-websocket": crlf("GET /ws HTTP/1.1\nHost: a\nConnection: keep-alive, Upgrade\nUpgrade: websocket\n\n"),
    "http10-keep-alive": crlf("GET / HTTP/1.0\nConnection: keep-alive\n\n"),
    "leading-empty-lines": crlf("\n\n" + GET),
    "pipelined-mixed": crlf(GET + "HEAD /h HTTP/1.0\n\n" + "POST /x HTTP/1.1\nHost: b\nContent-Length: 2\n\n") + b"ok" + crlf(GET),
    "ows-values": crlf("GET /?q=1 HTTP/1.1\nHost:\t a \t\nX-Empty:\nX-Obs: caf\xe9\n\n"),
    # Smuggling and other tricky inputs (RULES.md; RFC 9112 sections 6.1, 6.3, 7.1).
    "cl-and-te": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 5\nTransfer-Encoding: chunked\n\n") + chunked("hello"),
    "te-chunked-twice": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n\n") + chunked("x"),
    "te-chunked-not-last": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked, gzip\n\n") + chunked("x"),
    "te-gzip-chunked": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, CHUNKED\n\n") + chunked("x"),
    "te-unknown": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: xchunked\n\n") + chunked("x"),
    "te-space-before-colon": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding : chunked\n\n") + chunked("x"),
    "te-http10": crlf("POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n") + chunked("x"),
    "te-empty-elements": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: , chunked ,\n\n") + chunked("x"),
    "cl-duplicate-same": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 3\nContent-Length: 3\n\n") + b"abc",
    "cl-conflict": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 3\nContent-Length: 4\n\n") + b"abcd",
    "cl-plus": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: +3\n\n") + b"abc",
    "cl-list": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 1,1\n\n") + b"a",
    "cl-overflow": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 18446744073709551616\n\n"),
    "obs-fold": crlf("GET / HTTP/1.1\nHost: a\nX: a\n b\n\n"),
    "bare-lf": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "bare-cr-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX:\rY\r\n\r\n",  # CVE-2023-30589
    "cr-after-crlf": b"GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "chunk-size-0x": crlf(POST_TE) + b"0x5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-overflow": crlf(POST_TE) + b"10000000000000001\r\nx\r\n0\r\n\r\n",
    "chunk-ext-bad-quote": crlf(POST_TE) + b"1;a=\"x\r\nx\r\n0\r\n\r\n",
    "chunk-ext-space": crlf(POST_TE) + b"1 ;a=b\r\nx\r\n0\r\n\r\n",
    "chunk-missing-crlf": crlf(POST_TE) + b"3\r\nabcX\r\n0\r\n\r\n",
    "chunk-lf-only": crlf(POST_TE) + b"3\nabc\r\n0\r\n\r\n",
    "missing-host": crlf("GET / HTTP/1.1\nAccept: */*\n\n"),
    "multiple-host": crlf("GET / HTTP/1.1\nHost: a\nhost: b\n\n"),
    "version-505": crlf("GET / HTTP/2.0\nHost: a\n\n"),
    "version-09": crlf("GET /\n"),
    "version-lowercase": crlf("GET / http/1.1\nHost: a\n\n"),
    "double-space": crlf("GET  / HTTP/1.1\nHost: a\n\n"),
    "bad-method": crlf("G(T / HTTP/1.1\nHost: a\n\n"),
    "target-control": b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
    "incomplete-body": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 10\n\n") + b"abc",
    # Request targets (RULES.md "Request target": RFC 9112 section 3.2, RFC 3986).
    "target-escapes": crlf("GET /a%20b/c;d=e?q=%2F&r=:@/?x HTTP/1.1\nHost: a\n\n"),
    "target-bad-escape": crlf("GET /a%4g HTTP/1.1\nHost: a\n\n" + GET),
    "target-utf8": b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    "target-fragment": crlf("GET /a#frag HTTP/1.1\nHost: a\n\n"),
    "target-excluded": crlf('GET /a"<>\\^`{|}[] HTTP/1.1\nHost: a\n\n'),
    "target-absolute": crlf("GET http://a.example:8080/p?q HTTP/1.1\nHost: a\n\n"
                            "GET HTTPS://a?x HTTP/1.1\nHost: a\n\n"),
    "target-ipv6": crlf("GET http://[2001:db8::1]:80/ HTTP/1.1\nHost: a\n\n"
                        "GET http://[::ffff:1.2.3.4]/ HTTP/1.1\nHost: a\n\n"
                        "GET http://[v7.a:b]/ HTTP/1.1\nHost: a\n\n"),
    "target-ipv6-bad": crlf("GET http://[1:2:3:4:5:6:7:8:9]/ HTTP/1.1\nHost: a\n\n"),
    "target-userinfo": crlf("GET http://u:p@a/ HTTP/1.1\nHost: a\n\n"),
    "target-connect": crlf("CONNECT a.example:443 HTTP/1.1\nHost: a\n\nCONNECT [::1]:443 HTTP/1.1\nHost: a\n\n"),
    "target-connect-no-port": crlf("CONNECT a.example HTTP/1.1\nHost: a\n\n"),
    "target-asterisk": crlf("OPTIONS * HTTP/1.1\nHost: a\n\nGET * HTTP/1.1\nHost: a\n\n"),
    "target-relative": crlf("GET foo/bar HTTP/1.1\nHost: a\n\n"),
    "connect-content-length": crlf("CONNECT a:443 HTTP/1.1\nHost: a\nContent-Length: 0\n\n"),
    # Trailers RFC 9110 section 6.5.1 keeps in the head, and ones it allows.
    "trailer-forbidden": crlf(POST_TE) + chunked("x", trailers="X-Sum: 1\nHost: b\n"),
    "trailer-content-length": crlf(POST_TE) + chunked("x", trailers="Content-Length: 5\n") + crlf(GET),
    "trailer-allowed": crlf(POST_TE) + chunked("x", trailers="Server-Timing: a\nETag: 1\n") + crlf(GET),
    # Nothing after a closing request (RFC 9112 section 9.6).
    "close-then-more": crlf(GET + "GET /c HTTP/1.1\nHost: a\nConnection: close\n\n" + GET) + b"\x00junk",
    "http10-then-more": crlf("POST / HTTP/1.0\nContent-Length: 1\n\n") + b"x" + crlf(GET),
}

RESPONSE_SEEDS = {
    "200-content-length": crlf("HTTP/1.1 200 OK\nContent-Length: 5\nContent-Type: text/plain\n\n") + b"hello",
    "204-and-304": crlf("HTTP/1.1 204 No Content\n\nHTTP/1.1 304 Not Modified\nContent-Length: 10\n\n"),
    "100-then-200": crlf("HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 2\n\n") + b"ok",
    "chunked-trailers": crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n") + chunked("ab", "cde", trailers="Server-Timing: x\n"),
    "until-close": crlf("HTTP/1.1 200 OK\nContent-Type: text/plain\n\n") + b"body until the connection closes",
    "te-gzip-until-close": crlf("HTTP/1.1 200 OK\nTransfer-Encoding: gzip\n\n") + b"zzzz",
    "http10-keep-alive": crlf("HTTP/1.0 200 OK\nConnection: keep-alive\nContent-Length: 1\n\n") + b"x",
    "101-upgrade": crlf("HTTP/1.1 101 Switching Protocols\nConnection: Upgrade\nUpgrade: websocket\n\n"),
    "no-reason": crlf("HTTP/1.1 200\nContent-Length: 0\n\n"),
    "bad-status": crlf("HTTP/1.1 20 OK\nContent-Length: 0\n\n"),
    "status-505": crlf("HTTP/3.0 200 OK\nContent-Length: 0\n\n"),
}


def write(name, data):
    (HERE / "corpus" / name).write_bytes(data)


def main():
    out = HERE / "corpus"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    workloads = {p.stem: p.read_bytes() for p in sorted(REQUESTS.glob("*.http"))}
    for i, (name, data) in enumerate(workloads.items()):
        write(f"req-{name}", header(style=FEW, seed=i) + data)
        write(f"req-{name}-bytewise", header(style=EVERY_BYTE) + data)
    for variant, vname in ((SSE42, "sse42"), (GENERIC, "generic")):
        write(f"req-chrome-2025-{vname}", header(variant, style=EVERY_N, seed=3) + workloads["chrome-2025"])
        long_cookie = "GET / HTTP/1.1\nHost: a\nCookie: " + "k=v0123456789; " * 100 + "\nX-A: \tb\t\n\n"
        write(f"req-long-field-{vname}", header(variant, style=FEW, seed=11) + crlf(long_cookie))
        write(f"req-chunked-trailers-{vname}", header(variant, style=MANY, seed=5) + REQUEST_SEEDS["post-chunked-trailers"])
        write(f"req-bare-cr-{vname}", header(variant) + REQUEST_SEEDS["bare-cr-in-value"])
    write("req-pipelined-workloads", header(style=MANY, seed=99) + b"".join(workloads.values()))
    write("req-chrome-2013-small-limits", header(SMALL_LIMITS, 0b111, 40, EVERY_N, 5) + workloads["chrome-2013"])
    for i, (name, data) in enumerate(REQUEST_SEEDS.items()):
        write(f"req-{name}", header(style=i % 4, seed=i * 37) + data)
    write("req-chunked-small-limits", header(SMALL_LIMITS, 0b11000, 9, EVERY_BYTE) + REQUEST_SEEDS["post-chunked-trailers"])
    for i, (name, data) in enumerate(RESPONSE_SEEDS.items()):
        write(f"resp-{name}", header(RESPONSE, style=i % 4, seed=i * 41) + data)
    write("resp-head-response", header(RESPONSE | HEAD_RESPONSE) + RESPONSE_SEEDS["200-content-length"][:-5])


if __name__ == "__main__":
    main()
