#!/usr/bin/python3
"""Writes the seed corpora of chunk_fuzz (tests/fuzz/corpus-chunk/) and
head_fuzz (tests/fuzz/corpus-head/), in the input layouts that the comments at
the top of chunk_fuzz.cpp and head_fuzz.cpp describe.

  * chunk_fuzz: each framing (chunked, Content-Length shorter, equal and longer
    than the writes, until close, no body), with and without finish(), with
    and without a flush through a socket pair (also with the file one byte
    short); writes of one and several pieces, kept and referenced, file
    ranges, empty writes between others and as the only write,
    content that looks like a last chunk, and fills that need 3- and 5-digit
    chunk sizes.
  * head_fuzz: the heads apps send (WSGI defaults, Content-Length, Date and
    Server given, Connection: close and keep-alive, 1xx, 204, 304, HEAD,
    HTTP/1.0), each framing rule (Content-Length repeated, conflicting, with
    Transfer-Encoding, Transfer-Encoding lists good and bad, twice), and each
    kind of bad input (status forms, names, CR/LF/NUL in values, obs-text);
    the core's own heads (the 500 for a handler that produced none, and
    each error status it answers with).

Seeds are named seed-*; this script replaces only those, so the inputs that
`make fuzz` merged in (named by their SHA-1) stay. The files are checked in,
so the fuzzer and the replay tests need no Python.
"""
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent

# chunk_fuzz flags byte
CHUNKED, CONTENT_LENGTH, UNTIL_CLOSE, NO_BODY = 0, 1, 2, 3
FINISH, FLUSH, SHORT_FILE = 4, 8, 0x40
EVERY_BYTE, EVERY_N = 2 << 4, 1 << 4


def mem(data, kept=False):
    assert len(data) < 256
    return bytes([0x80 if kept else 0, len(data)]) + data


def gather(*pieces):
    assert 1 <= len(pieces) <= 4
    out = bytes([1 | (len(pieces) - 1) << 2])
    for p in pieces:
        out += bytes([len(p)]) + p
    return out


def fill(count, byte, times=1, file=False):
    return bytes([2 | (times - 1) << 2 | (0x40 if file else 0)]) + struct.pack(">H", count) + byte


def empty(file=False, pieces=1):
    return bytes([3 | (4 if file else 0) | (pieces - 1) << 3])


def chunk_seed(flags, writes, length=0, cut_seed=7):
    return bytes([flags]) + struct.pack(">HH", length, cut_seed) + b"".join(writes)


def chunk_seeds():
    hello = [mem(b"hello"), mem(b", "), mem(b"world")]
    s = {}
    for mode, name in ((CHUNKED, "chunked"), (UNTIL_CLOSE, "until-close"), (NO_BODY, "no-body")):
        s[f"{name}-finish"] = chunk_seed(mode | FINISH, hello)
        s[f"{name}-open"] = chunk_seed(mode | EVERY_BYTE, hello)
    s["chunked-empty-only"] = chunk_seed(CHUNKED | FINISH, [empty()])
    s["chunked-empty-only-open"] = chunk_seed(CHUNKED, [empty(), empty(file=True)])
    s["chunked-nothing"] = chunk_seed(CHUNKED | FINISH, [])
    s["chunked-empties-between"] = chunk_seed(
        CHUNKED | FINISH | EVERY_BYTE,
        [mem(b"a"), empty(), empty(file=True), empty(pieces=3), mem(b"b"), gather(b"", b"")])
    s["chunked-looks-like-last"] = chunk_seed(
        CHUNKED | FINISH | EVERY_BYTE, [mem(b"0\r\n\r\n"), mem(b"\r\n"), mem(b"0\r\n")])
    s["chunked-gather"] = chunk_seed(
        CHUNKED | FINISH | FLUSH, [gather(b"ab", b"", b"cd", b"e"), gather(b"xyz")])
    s["chunked-files"] = chunk_seed(
        CHUNKED | FINISH | FLUSH, [fill(300, b"f", file=True), mem(b"mid"), fill(1, b"g", file=True)])
    s["chunked-big"] = chunk_seed(CHUNKED | FINISH | FLUSH, [fill(65535, b"x", times=2), mem(b"end")])
    s["chunked-hex-digits"] = chunk_seed(
        CHUNKED | FINISH, [fill(15, b"a"), fill(16, b"b"), fill(255, b"c"), fill(256, b"d"),
                           fill(4095, b"e"), fill(4096, b"f")])
    s["chunked-kept"] = chunk_seed(CHUNKED | FINISH | FLUSH,
                                   [mem(b"kept", kept=True), mem(b"ref"), mem(b"", kept=True)])
    s["chunked-short-file"] = chunk_seed(CHUNKED | FINISH | FLUSH | SHORT_FILE,
                                         [mem(b"a"), fill(5000, b"s", file=True), mem(b"b")])
    s["cl-short-file-cut"] = chunk_seed(CONTENT_LENGTH | FLUSH | SHORT_FILE,
                                        [mem(b"abc"), fill(10, b"s", file=True)], length=5)
    s["cl-exact"] = chunk_seed(CONTENT_LENGTH | FINISH, hello, length=12)
    s["cl-short"] = chunk_seed(CONTENT_LENGTH | FINISH | EVERY_N, hello, length=20)
    s["cl-excess"] = chunk_seed(CONTENT_LENGTH | FINISH | FLUSH, hello + [fill(500, b"z", file=True)],
                                length=7)
    s["cl-zero"] = chunk_seed(CONTENT_LENGTH | FINISH, [mem(b"dropped")], length=0)
    s["until-close-files"] = chunk_seed(UNTIL_CLOSE | FINISH | FLUSH,
                                        [fill(2000, b"u", file=True), empty(file=True), mem(b"t")])
    return s


# head_fuzz request byte
HTTP11, HEAD, KEEP_ALIVE, SERVER_CLOSES = 1, 2, 4, 8


CORE_500, CORE_ERROR = 0x40, 0x80
# head_fuzz's kErrorStatuses, by index (the byte after the setup byte chooses).
ERROR_STATUSES = [400, 405, 408, 413, 414, 431, 500, 501, 503, 505, 418]


def head_seed(request, status, fields, writes=2, cut_style=0, cut_seed=3, core=0):
    lines = [status] + [f"{n}:{v}" for n, v in fields]
    text = "\n".join(lines).encode("latin-1")
    return bytes([request | writes << 4, cut_style | core]) + struct.pack(">H", cut_seed) + text


def error_seed(status, detail, cut_style=2):
    return head_seed(0, detail, [], cut_style=cut_style, cut_seed=ERROR_STATUSES.index(status) << 8,
                     core=CORE_ERROR)


def head_seeds():
    ka11 = HTTP11 | KEEP_ALIVE
    s = {
        "wsgi-default": head_seed(ka11, "200 OK", [("Content-Type", "text/plain")]),
        "content-length": head_seed(ka11, "200 OK", [("Content-Type", "text/html"),
                                                     ("Content-Length", "14")], writes=3),
        "content-length-short": head_seed(ka11, "200 OK", [("Content-Length", "100")]),
        "content-length-repeated": head_seed(ka11, "200 OK", [("Content-Length", "7"),
                                                              ("content-length", "7")]),
        "content-length-conflict": head_seed(ka11, "200 OK", [("Content-Length", "7"),
                                                              ("Content-Length", "8")]),
        "content-length-bad": head_seed(ka11, "200 OK", [("Content-Length", " 7")]),
        "content-length-overflow": head_seed(ka11, "200 OK",
                                             [("Content-Length", "18446744073709551616")]),
        "date-server-given": head_seed(ka11, "404 Not Found",
                                       [("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
                                        ("Server", "app"), ("X-Empty", "")]),
        "connection-close": head_seed(ka11, "500 Internal Server Error",
                                      [("Connection", "close")], cut_style=2),
        "connection-keep-alive-closing": head_seed(HTTP11 | SERVER_CLOSES, "200 OK",
                                                   [("Connection", "keep-alive")]),
        "http10-keep-alive": head_seed(KEEP_ALIVE, "200 OK", [("Content-Length", "3")]),
        "http10-close": head_seed(0, "200 OK", [("X-A", "b")]),
        "head": head_seed(ka11 | HEAD, "200 OK", [("Content-Length", "42")]),
        "interim": head_seed(ka11, "103 Early Hints", [("Link", "</s.css>; rel=preload")]),
        "no-content": head_seed(ka11, "204 No Content", []),
        "not-modified": head_seed(ka11, "304 Not Modified", [("ETag", '"x"')]),
        "status-bare": head_seed(ka11, "200", []),
        "status-999": head_seed(ka11, "999 Max", []),
        "status-099": head_seed(ka11, "099 Low", []),
        "status-short": head_seed(ka11, "20", []),
        "status-no-space": head_seed(ka11, "200OK", []),
        "status-crlf": head_seed(ka11, "200 OK\\r\\nX-Injected: 1", []),
        "reason-obs-text": head_seed(ka11, "200 Gr\xfc\xdfe\tund so", []),
        "value-ows": head_seed(ka11, "200 OK", [("X-Pad", " \tpadded\t ")]),
        "value-crlf": head_seed(ka11, "200 OK", [("X-A", "b\\r\\nSet-Cookie: evil=1")]),
        "value-lf": head_seed(ka11, "200 OK", [("X-A", "b\\nc")]),
        "value-nul": head_seed(ka11, "200 OK", [("X-A", "b\\0c")]),
        "value-del": head_seed(ka11, "200 OK", [("X-A", "b\x7fc")]),
        "name-space": head_seed(ka11, "200 OK", [("X A", "b")]),
        "name-colon": head_seed(ka11, "200 OK", [("X\\:A", "b")]),
        "name-empty": head_seed(ka11, "200 OK", [("", "b")]),
        "te-chunked": head_seed(ka11, "200 OK", [("Transfer-Encoding", "chunked")]),
        "te-gzip-chunked": head_seed(ka11, "200 OK", [("Transfer-Encoding", "gzip, chunked")]),
        "te-gzip": head_seed(ka11, "200 OK", [("Transfer-Encoding", "gzip")]),
        "te-chunked-not-last": head_seed(ka11, "200 OK", [("Transfer-Encoding", "chunked, gzip")]),
        "te-unknown": head_seed(ka11, "200 OK", [("Transfer-Encoding", "br")]),
        "te-empty-list": head_seed(ka11, "200 OK", [("Transfer-Encoding", " , ")]),
        "te-twice": head_seed(ka11, "200 OK", [("Transfer-Encoding", "gzip"),
                                               ("Transfer-Encoding", "chunked")]),
        "te-with-content-length": head_seed(ka11, "200 OK", [("Content-Length", "5"),
                                                             ("Transfer-Encoding", "chunked")]),
        "many-fields": head_seed(ka11, "200 OK", [(f"X-{i}", str(i)) for i in range(150)]),
        "core-500": head_seed(ka11, "", [], writes=3, core=CORE_500),
        "core-500-http10-head": head_seed(HEAD, "", [], core=CORE_500),
    }
    for status in ERROR_STATUSES:
        s[f"core-error-{status}"] = error_seed(status, "bad_chunk_size")
    s["core-error-detail-bytes"] = error_seed(400, "a\\r\\nb\\0\xff", cut_style=0)
    return s


def write(folder, seeds):
    out = HERE / folder
    out.mkdir(exist_ok=True)
    for old in out.glob("seed-*"):
        old.unlink()
    for name, data in seeds.items():
        (out / f"seed-{name}").write_bytes(data)
    print(f"{out}: {len(seeds)} seeds")


if __name__ == "__main__":
    write("corpus-chunk", chunk_seeds())
    write("corpus-head", head_seeds())
