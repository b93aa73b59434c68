"""anvil.parser: anvil's C++ HTTP/1.1 parsers (`fast`, `llhttp`, `http-parser`) for Python.

The same parsers as `python3 -m anvil --parser fast|llhttp|http-parser` (one
name for one thing: `kind="fast"` is `ParserKind::fast`, `kind="http-parser"`
`ParserKind::http_parser`), for a loop written in Python: the cost ladder's
step 2, and `anvil.refserver --parser fast|llhttp|http-parser`.

Two ways to drive a `Parser(kind="fast", mode="request", *, strings=True,
request_line=8192, header_bytes=65536, fields=100, body=None, chunk_extension=4096)`
(the limits are parser/parser.hpp's `Limits`; an error carries the HTTP
status to answer with, parser/RULES.md says which):

* whole messages, the cheap way for a server: `p.feed_messages(data)` returns
  the messages completed by `data` as `(head, body, trailers)` tuples (none
  after a request without keep-alive: the parser stops there, RFC 9112
  section 9.6); after it, `p.error_status` is the status of a rejected message (0 if none) and
  `p.pending_head` the head of a message whose body has not all arrived;
  `p.finish_messages()` when the peer closes (a response body that runs until
  the close is completed by it).
* event by event: `p.feed(data)`, then `p.next()` until it returns None
  (more input needed); each event is `(HEAD, head)`, `(BODY, bytes)`,
  `(DONE, trailers)`, `(END, None)` (after a request without keep-alive:
  nothing more is parsed) or `(ERROR, (status, code))`; `p.finish()` gives the
  last event (`DONE`, `END` or `ERROR`) when the input ends.

`head` is the tuple (method, target, version, headers, content_length,
chunked, keep_alive, expect_continue, upgrade, target_form), in response mode
(status, reason, version, ..., upgrade) without target_form; target_form is
"origin", "absolute", "authority" or "asterisk" (parser.hpp's TargetForm,
RFC 9112 section 3.2); `headers` and `trailers` are lists of (name, value)
as received, values without surrounding whitespace; text is latin-1 `str`
(every byte the code point of the same value, as PEP 3333 has it), or
`bytes` with `strings=False`; content_length is None unless the message is
framed by Content-Length. `parse()` below wraps it all for one buffer.

On PyPy every object made in C++ goes through cpyext at about a microsecond
each, so `message_parser()` gives a server the cheapest form for the running
interpreter: the binding itself on CPython, and on PyPy a wrapper with the
same methods that fetches each batch of messages as one packed bytes object
(`Parser.feed_packed`) and takes it apart in Python, where the JIT is fast.
"""

import struct
import sys
from collections import namedtuple

from anvil import _core
from anvil.pyparser import RequestParser

__all__ = ["Parser", "RequestParser", "ParseError", "Request", "Response", "parse", "KINDS",
           "message_parser",
           "NEED_MORE", "HEAD", "BODY", "DONE", "END", "ERROR"]

_impl = _core.parser

Parser = _impl.Parser
NEED_MORE = _impl.NEED_MORE
HEAD = _impl.HEAD
BODY = _impl.BODY
DONE = _impl.DONE
END = _impl.END
ERROR = _impl.ERROR
# The C++ kinds this build offers, in anvil's stable order ("llhttp", "fast", "http-parser").
KINDS = tuple(_impl.kinds())

_FRAMING = ("version", "headers", "content_length", "chunked", "keep_alive",
            "expect_continue", "upgrade")
Request = namedtuple("Request", ("method", "target") + _FRAMING + ("target_form", "body", "trailers"))
Response = namedtuple("Response", ("status", "reason") + _FRAMING + ("body", "trailers"))
# The packed layout's bits 5-6 of the flags (parser.hpp's TargetForm order).
_TARGET_FORMS = ("origin", "absolute", "authority", "asterisk")


class ParseError(ValueError):
    """A rejected message: `status` to answer with, `code` as in parser.hpp
    (e.g. "bad_chunk_size"), `messages` the ones complete before it."""

    def __init__(self, status, code, messages=()):
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.messages = list(messages)


def parse(data, kind="fast", response=False, head_response=False, **limits):
    """Every message in `data` (bytes), as Request or Response tuples.

    The input is taken to end after `data`: a message cut short raises
    ParseError (400, "incomplete"), as does any rejected message.
    `kind="python"` uses the pure-Python parser (requests only).
    """
    if kind == "python":
        if response:
            raise ValueError("the pure-Python parser reads requests only")
        p = RequestParser(**limits)
    else:
        p = message_parser(kind, "response" if response else "request", **limits)
        p.set_head_response(head_response)
    raw = p.feed_messages(data)
    if not p.error_status:
        raw += p.finish_messages()
    make = Response if response else Request
    messages = [make(*head, body, trailers) for head, body, trailers in raw]
    error = p.error
    if error is not None:
        raise ParseError(error[0], error[1], messages)
    return messages


def message_parser(kind="fast", mode="request", packed=None, **limits):
    """A parser with the feed_messages() interface, in the cheapest form here.

    packed=None picks by interpreter (packed on PyPy); True or False forces it.
    """
    strings = limits.get("strings", True)
    if packed is None:
        packed = sys.implementation.name == "pypy" and strings
    if packed:
        if not strings:
            raise ValueError("the packed form gives str only (strings=True)")
        return PackedParser(kind, mode, **limits)
    return Parser(kind, mode, **limits)


class PackedParser:
    """Parser's feed_messages() interface over feed_packed() (for PyPy)."""

    __slots__ = ("_p", "_request", "kind", "mode")

    def __init__(self, kind="fast", mode="request", **limits):
        self._p = Parser(kind, mode, **limits)
        self._request = mode == "request"
        self.kind = kind
        self.mode = mode

    def feed_messages(self, data):
        packed = self._p.feed_packed(data)
        return _unpack(packed, self._request) if packed else []

    def finish_messages(self):
        packed = self._p.finish_packed()
        return _unpack(packed, self._request) if packed else []

    @property
    def error_status(self):
        return self._p.error_status

    @property
    def error(self):
        return self._p.error

    @property
    def expect_continue_pending(self):
        return self._p.expect_continue_pending

    @property
    def buffered(self):
        return self._p.buffered

    def reset(self):
        self._p.reset()

    def set_head_response(self, on):
        self._p.set_head_response(on)


# The packed layout written by parser_bindings.cpp (pack_record): a header of
# 12 u32, then (offset, length) u32 pairs, then the head text, body and
# trailer text.
_RECORD_HEADER = struct.Struct("<12I")
_INDEX_FORMATS = {}
_VERSIONS = {257: "HTTP/1.1", 256: "HTTP/1.0"}


def _index_format(n):
    fmt = _INDEX_FORMATS.get(n)
    if fmt is None:
        fmt = struct.Struct("<%dI" % n)
        if len(_INDEX_FORMATS) < 256:
            _INDEX_FORMATS[n] = fmt
    return fmt


def _unpack(packed, request):
    out = []
    pos = 0
    end = len(packed)
    while pos < end:
        (size, flags, status, version, length_lo, length_hi, n_fields, n_trailers,
         head_size, body_size, trailer_size, _) = _RECORD_HEADER.unpack_from(packed, pos)
        n_index = 4 + 4 * (n_fields + n_trailers)
        index = _index_format(n_index).unpack_from(packed, pos + 48)
        text = pos + 48 + 4 * n_index
        head = packed[text:text + head_size].decode("latin-1")
        text += head_size
        body = packed[text:text + body_size]
        text += body_size
        stop = 4 + 4 * n_fields
        headers = [(head[index[i]:index[i] + index[i + 1]], head[index[i + 2]:index[i + 2] + index[i + 3]])
                   for i in range(4, stop, 4)]
        if n_trailers:
            tt = packed[text:text + trailer_size].decode("latin-1")
            trailers = [(tt[index[i]:index[i] + index[i + 1]], tt[index[i + 2]:index[i + 2] + index[i + 3]])
                        for i in range(stop, n_index, 4)]
        else:
            trailers = []
        v = _VERSIONS.get(version) or "HTTP/%d.%d" % (version >> 8, version & 255)
        first = head[index[0]:index[0] + index[1]]
        if request:
            first_two = (first, head[index[2]:index[2] + index[3]])
            form = (_TARGET_FORMS[flags >> 5 & 3],)
        else:
            first_two = (status, first)
            form = ()
        out.append((first_two + (v, headers, (length_hi << 32 | length_lo) if flags & 16 else None,
                                 bool(flags & 1), bool(flags & 2), bool(flags & 4), bool(flags & 8))
                    + form, body, trailers))
        pos += size
    return out
