"""A pure-Python HTTP/1.1 request parser: the cost ladder's step 1.

It has the same interface as the C++ parsers' binding (`anvil.parser.Parser`
in request mode), so that the reference server's loop is the same code
whichever parser it drives:

    p = RequestParser()
    for head, body, trailers in p.feed_messages(data): ...
    if p.error_status: answer p.error_status and close

`head` is the tuple (method, target, version, headers, content_length|None,
chunked, keep_alive, expect_continue, upgrade, target_form), every text a latin-1 str,
`headers` a list of (name, value) pairs as received. The body is buffered
whole (bytes). It is as fast as plain Python allows: the head is found with
one `bytes.find`, decoded once, split into lines, and checked with string
methods that run in C (`isprintable` over all lines at once, one precompiled
regular expression over all field names at once); the exact per-character
check runs only when that fast path fails (HTAB, obs-text or a bad byte).

It follows parser/RULES.md (strict RFC 9112) where that is cheap, with the
same statuses (400, 413, 414, 431, 501, 505); unlike the C++ parsers it does
not promise the same answer at every fragmentation for every bad input, nor
the same error when a message breaks two rules.
"""

import ipaddress
import re

__all__ = ["RequestParser", "ParseError"]

# RFC 9110 §5.6.2: tchar.
_TCHAR = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"

# Control bytes other than HTAB, DEL, and a CR or LF that is not part of CRLF
# (RULES.md "Field lines"; CVE-2023-30589 is the bare CR).
_BAD_HEAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")
_BAD_PARTIAL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")
# RFC 9112 §3: method SP request-target SP HTTP-version.
_REQUEST_LINE = re.compile(_TCHAR + r"+ [\x21-\x7e]+ HTTP/[0-9]\.[0-9]")
# Field names with their colons, one per line (RFC 9112 §5: no whitespace
# before the colon; a line starting with whitespace is obs-fold).
_NAMES = re.compile(_TCHAR + r"+:(?:\n" + _TCHAR + r"+:)*")
_NAME = re.compile(_TCHAR + r"+")
# Only the fields that change framing or keep-alive need more Python code.
_SPECIAL = frozenset(
    ("content-length", "transfer-encoding", "connection", "host", "expect", "upgrade"))
_DIGITS = re.compile(r"[0-9]+")
# RFC 9112 §7.1.1: chunk-ext, no whitespace (RULES.md).
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)((?:;[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    rb"(?:=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|\"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*\"))?)*)"
)
_HTTP11 = "HTTP/1.1"
_HTTP10 = "HTTP/1.0"
_MAX_U64 = (1 << 64) - 1

# RULES.md "Request target" (RFC 9112 section 3.2, RFC 3986): the bytes of a
# path and query, a host, an authority with its port (checked for <= 65535
# after the match), and the forms as the method allows them.
_PCT = r"%[0-9A-Fa-f]{2}"
_PATH = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|" + _PCT + r")*"
_HOST = r"(?:\[([0-9A-Za-z\-._~!$&'()*+,;=:]*)\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|" + _PCT + r")+)"
_ORIGIN_FORM = re.compile(r"/" + _PATH)
_ABSOLUTE_FORM = re.compile(r"(?i:https?)://" + _HOST + r"(?::([0-9]*))?(?:[/?]" + _PATH + r")?")
_AUTHORITY_FORM = re.compile(_HOST + r":([0-9]+)")
_IPV_FUTURE = re.compile(r"[vV][0-9A-Fa-f]+\.[0-9A-Za-z\-._~!$&'()*+,;=:]+")
_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                   r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")
# RULES.md "Trailers": what RFC 9110 section 6.5.1 keeps in the head.
_NOT_TRAILERS = frozenset((
    "content-length", "transfer-encoding", "trailer", "connection", "keep-alive", "upgrade",
    "host", "cache-control", "expect", "max-forwards", "pragma", "range", "te", "if-match",
    "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "authorization",
    "proxy-authorization", "www-authenticate", "proxy-authenticate", "authentication-info",
    "proxy-authentication-info", "cookie", "set-cookie", "age", "date", "expires", "location",
    "retry-after", "vary", "warning", "content-encoding", "content-type", "content-range"))

# Parser states; _CLOSED: after a request without keep-alive nothing is parsed
# (RFC 9112 section 9.6).
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILERS, _ERROR, _CLOSED = range(7)


class ParseError(Exception):
    """A rejected request: `status` to answer with, `code` as in parser.hpp."""

    def __init__(self, status, code):
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


class RequestParser:
    """Incremental request parser; one per connection. Not thread-safe."""

    kind = "python"
    mode = "request"

    def __init__(self, *, request_line=8 * 1024, header_bytes=64 * 1024, fields=100, body=None,
                 chunk_extension=4096):
        if min(request_line, header_bytes, fields, chunk_extension) <= 0 or (
                body is not None and body < 0):
            raise ValueError("parser limits must be positive")
        self._limit_line = request_line
        self._limit_header = header_bytes
        self._limit_fields = fields
        self._limit_body = _MAX_U64 if body is None else body
        self._limit_ext = chunk_extension
        self.reset()

    def reset(self):
        """Back to the start state (a new connection), keeping the limits."""
        self._buf = b""
        self._pos = 0
        self._state = _HEAD
        self._head = None
        self._body = []
        self._need = 0        # _LENGTH: bytes still to come; _CHUNK_DATA: chunk size
        self._received = 0    # decoded body bytes so far (chunked)
        self._error = None

    @property
    def pending_head(self):
        """The head of a request whose body is still arriving, else None."""
        return self._head

    @property
    def expect_continue_pending(self):
        """A head with Expect: 100-continue whose body has not all arrived."""
        return self._head is not None and self._head[7]

    @property
    def error(self):
        return None if self._error is None else (self._error.status, self._error.code)

    @property
    def error_status(self):
        return 0 if self._error is None else self._error.status

    @property
    def buffered(self):
        return len(self._buf) - self._pos

    def feed_messages(self, data):
        """Appends data; returns the requests it completed as (head, body, trailers)."""
        if self._state == _CLOSED:
            return []
        if self._pos:
            self._buf = self._buf[self._pos:] + data
            self._pos = 0
        elif self._buf:
            self._buf += data
        else:
            self._buf = bytes(data)
        out = []
        try:
            while self._step(out):
                pass
        except ParseError as e:
            self._error = e
            self._state = _ERROR
        return out

    def finish_messages(self):
        """The peer closed: a request cut short is an error (400 incomplete)."""
        if self._state == _CLOSED:
            return []
        if self._state != _ERROR and (self._state != _HEAD or self._pos < len(self._buf)):
            self._error = ParseError(400, "incomplete")
            self._state = _ERROR
        return []

    # One step of the state machine; False when more input is needed.
    def _step(self, out):
        state = self._state
        if state == _HEAD:
            return self._parse_head(out)
        if state == _LENGTH:
            return self._read_length(out)
        if state == _CHUNK_SIZE:
            return self._read_chunk_size()
        if state == _CHUNK_DATA:
            return self._read_chunk_data()
        if state == _TRAILERS:
            return self._read_trailers(out)
        return False

    def _parse_head(self, out):
        buf = self._buf
        pos = self._pos
        # RFC 9112 §2.2: empty lines before a request line are ignored.
        while buf.startswith(b"\r\n", pos):
            pos += 2
        self._pos = pos
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            self._check_partial_head(buf, pos)
            return False
        head = buf[pos:end].decode("latin-1")  # start line and field lines, no final CRLF
        self._pos = end + 4
        lines = head.split("\r\n")
        # Fast path: printable ASCII only (no control byte, DEL, bare CR or LF,
        # HTAB or obs-text); else the exact check.
        if not "".join(lines).isprintable():
            _check_characters(head)
        request_line = lines[0]
        if len(request_line) > self._limit_line:
            raise ParseError(414, "request_line_too_long")
        # The field section counts from after the start line's CRLF up to and
        # including the empty line's CRLF (RULES.md).
        if len(head) - len(request_line) + 2 > self._limit_header:
            raise ParseError(431, "header_too_large")
        if _REQUEST_LINE.fullmatch(request_line) is None:
            raise _request_line_error(request_line)
        method, target, version = request_line.split(" ")
        form = _target_form(method, target)
        if version == _HTTP11:
            version = _HTTP11
        elif version == _HTTP10:
            version = _HTTP10
        else:
            raise ParseError(505, "unsupported_version")
        del lines[0]
        headers = self._parse_fields(lines)
        self._start_message(method, target, form, version, headers, out)
        return self._state != _CLOSED

    def _parse_fields(self, lines):
        """(name, value) pairs of field lines whose characters are checked already."""
        if len(lines) > self._limit_fields:
            raise ParseError(431, "too_many_fields")
        parts = [line.partition(":") for line in lines]
        # Every line is 1*tchar ":" (no space before the colon, no obs-fold).
        if parts and _NAMES.fullmatch("\n".join([p[0] + p[1] for p in parts])) is None:
            raise _field_error(lines)
        return [(p[0], p[2].strip(" \t")) for p in parts]

    def _check_partial_head(self, buf, pos):
        # Reject early what can never become a valid head, so that a client
        # cannot make the server buffer up to the limits with garbage.
        size = len(buf) - pos
        line_end = buf.find(b"\r\n", pos)
        if (line_end < 0 and size > self._limit_line) or line_end - pos > self._limit_line:
            raise ParseError(414, "request_line_too_long")
        if line_end >= 0 and len(buf) - line_end > self._limit_header + 2:
            raise ParseError(431, "header_too_large")
        scan_end = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
        if _BAD_PARTIAL.search(buf, pos, scan_end) is not None:
            raise ParseError(400, "bad_line_ending")

    def _start_message(self, method, target, form, version, headers, out):
        http11 = version is _HTTP11
        length = None
        codings = None
        hosts = 0
        close = keep_alive_token = upgrade_token = has_upgrade = expect = False
        for name, value in headers:
            name = name.lower()
            if name not in _SPECIAL:
                continue
            if name == "host":
                hosts += 1
                if hosts > 1:
                    raise ParseError(400, "multiple_host")
            elif name == "connection":
                for token in value.lower().split(","):
                    token = token.strip(" \t")
                    if token == "close":
                        close = True
                    elif token == "keep-alive":
                        keep_alive_token = True
                    elif token == "upgrade":
                        upgrade_token = True
            elif name == "content-length":
                if _DIGITS.fullmatch(value) is None or int(value) > _MAX_U64:
                    raise ParseError(400, "bad_content_length")
                n = int(value)
                if length is not None and n != length:
                    raise ParseError(400, "conflicting_content_length")
                length = n
            elif name == "transfer-encoding":
                if codings is None:
                    codings = []
                for coding in value.split(","):
                    coding = coding.strip(" \t")
                    if not coding:
                        continue
                    if _NAME.fullmatch(coding) is None:
                        raise ParseError(400, "bad_transfer_encoding")
                    codings.append(coding.lower())
            elif name == "expect":
                expect = value.lower() == "100-continue"
            else:  # upgrade
                has_upgrade = True
        if http11 and hosts == 0:
            raise ParseError(400, "missing_host")
        if method == "CONNECT" and (length is not None or codings is not None):
            # RFC 9110 section 9.3.6: a CONNECT request has no content.
            raise ParseError(400, "connect_with_content")
        chunked = False
        if codings is not None:
            chunked = _check_codings(codings, http11)
            if length is not None:
                raise ParseError(400, "content_length_and_transfer_encoding")
        if length is not None and length > self._limit_body:
            raise ParseError(413, "body_too_large")
        keep_alive = not close if http11 else keep_alive_token and not close
        head = (method, target, version, headers, length, chunked, keep_alive,
                expect and http11, upgrade_token and has_upgrade, form)
        if chunked:
            self._head = head
            self._body = []
            self._received = 0
            self._state = _CHUNK_SIZE
        elif length:
            self._head = head
            self._need = length
            self._state = _LENGTH
        else:
            self._complete(head, b"", [], out)

    def _complete(self, head, body, trailers, out):
        out.append((head, body, trailers))
        self._head = None
        self._body = []
        self._state = _HEAD if head[6] else _CLOSED

    def _read_length(self, out):
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available < self._need:
            # Keep what came so far; compact so the buffer does not grow twice.
            self._body.append(buf[pos:])
            self._need -= available
            self._buf = b""
            self._pos = 0
            return False
        end = pos + self._need
        if self._body:
            self._body.append(buf[pos:end])
            body = b"".join(self._body)
            self._body = []
        else:
            body = buf[pos:end]
        self._pos = end
        self._complete(self._head, body, [], out)
        return self._state != _CLOSED

    def _read_chunk_size(self):
        buf = self._buf
        pos = self._pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > 18 + self._limit_ext:  # size digits, ';', extensions
                raise ParseError(400, "bad_chunk_extension")
            scan_end = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
            if buf.find(b"\n", pos, scan_end) >= 0 or buf.find(b"\r", pos, scan_end) >= 0:
                raise ParseError(400, "bad_chunk_size")
            return False
        m = _CHUNK_LINE.fullmatch(buf, pos, end)
        if m is None:
            m = _CHUNK_LINE.match(buf, pos, end)
            raise ParseError(400, "bad_chunk_size" if m is None else "bad_chunk_extension")
        if len(m.group(2)) > self._limit_ext:
            raise ParseError(400, "bad_chunk_extension")
        digits = m.group(1).lstrip(b"0")
        if len(digits) > 16:
            raise ParseError(400, "bad_chunk_size")
        size = int(digits, 16) if digits else 0
        self._received += size
        if self._received > self._limit_body:
            raise ParseError(413, "body_too_large")
        self._pos = end + 2
        if size == 0:
            self._state = _TRAILERS
        else:
            self._need = size
            self._state = _CHUNK_DATA
        return True

    def _read_chunk_data(self):
        buf = self._buf
        pos = self._pos
        end = pos + self._need
        if len(buf) < end + 2:
            if len(buf) > end and buf[end] != 13:
                raise ParseError(400, "bad_chunk_end")
            return False
        if buf[end:end + 2] != b"\r\n":
            raise ParseError(400, "bad_chunk_end")
        self._body.append(buf[pos:end])
        self._pos = end + 2
        self._state = _CHUNK_SIZE
        return True

    def _read_trailers(self, out):
        buf = self._buf
        pos = self._pos
        if buf.startswith(b"\r\n", pos):
            trailers = []
            self._pos = pos + 2
        else:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                if len(buf) - pos > self._limit_header:
                    raise ParseError(431, "header_too_large")
                scan_end = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
                if _BAD_PARTIAL.search(buf, pos, scan_end) is not None:
                    raise ParseError(400, "bad_line_ending")
                return False
            section = buf[pos:end].decode("latin-1")
            if len(section) + 4 > self._limit_header:
                raise ParseError(431, "header_too_large")
            lines = section.split("\r\n")
            if not "".join(lines).isprintable():
                _check_characters(section)
            trailers = self._parse_fields(lines)
            for name, _ in trailers:
                if name.lower() in _NOT_TRAILERS:
                    raise ParseError(400, "forbidden_trailer")
            self._pos = end + 4
        self._complete(self._head, b"".join(self._body), trailers, out)
        return self._state != _CLOSED


def _target_form(method, target):
    """RULES.md "Request target": the form, or ParseError bad_target."""
    if method == "CONNECT":
        m = _AUTHORITY_FORM.fullmatch(target)
        form = "authority"
    elif target[0] == "/":
        if target == "/" or _ORIGIN_FORM.fullmatch(target) is not None:
            return "origin"
        m = None
    elif target == "*":
        m = True if method == "OPTIONS" else None
        form = "asterisk"
    else:
        m = _ABSOLUTE_FORM.fullmatch(target)
        form = "absolute"
    if m is None:
        raise ParseError(400, "bad_target")
    if m is not True:
        literal, port = m.group(1), m.group(2)
        if (literal is not None and not _ip_literal(literal)) or (port and int(port) > 65535):
            raise ParseError(400, "bad_target")
    return form


def _ip_literal(text):
    """RFC 3986 section 3.2.2: IPv6address or IPvFuture, between the brackets."""
    if _IPV_FUTURE.fullmatch(text):
        return True
    if "." in text and _IPV4.fullmatch(text.rpartition(":")[2]) is None:
        return False  # ipaddress would let leading zeros through on some versions
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _check_codings(codings, http11):
    """RULES.md "Transfer-Encoding", in its order; True when the body is chunked."""
    if not http11:
        raise ParseError(400, "transfer_encoding_http10")
    if not codings:
        raise ParseError(400, "bad_transfer_encoding")
    for coding in codings:
        if coding != "chunked":
            # anvil decodes no coding but chunked (RFC 9112 §6.1: 501).
            raise ParseError(501, "unknown_transfer_coding")
    if len(codings) != 1:
        # chunked twice (RFC 9112 §6.1).
        raise ParseError(400, "bad_transfer_encoding")
    return True


def _check_characters(head):
    bad = _BAD_HEAD.search(head)
    if bad is None:
        return  # only HTAB or obs-text, both allowed
    if head[bad.start()] in "\r\n":
        raise ParseError(400, "bad_line_ending")
    line_end = head.find("\r\n")
    in_fields = 0 <= line_end < bad.start()
    raise ParseError(400, "bad_field_value" if in_fields else "bad_request_line")


def _request_line_error(line):
    method, sp, rest = line.partition(" ")
    if _NAME.fullmatch(method) is None:
        return ParseError(400, "bad_method" if sp and method else "bad_request_line")
    target, sp, version = rest.partition(" ")
    if not sp or not target or " " in version or "\t" in line:
        return ParseError(400, "bad_request_line")
    if re.fullmatch(r"[\x21-\x7e]+", target) is None:
        return ParseError(400, "bad_target")
    return ParseError(400, "bad_version")


def _field_error(lines):
    for line in lines:
        if line[:1] in (" ", "\t"):
            return ParseError(400, "obs_fold")
        name, colon, _ = line.partition(":")
        if not colon or _NAME.fullmatch(name) is None:
            return ParseError(400, "bad_field_name")
    return ParseError(400, "bad_field_name")
