"""The parser corpus (tests/parser/cases/*.txt) read from Python, and anvil's
verdict on each case as the shoot-out compares them.

The file format is tests/parser/corpus.hpp's; this reader follows it (the
C++ loader stays the reference: a file it rejects fails the C++ tests).
Runs on CPython and PyPy, standard library only.
"""

import json
import os
import re

# What the matrix compares per message: RFC 9112 framing, not the fields.
# end: "ok" (nothing pending), "error" (rejected), "incomplete" (the input
# ended inside a message).
ENDS = ("ok", "error", "incomplete")

_REPEAT = re.compile(r"\{\{(\d+)\*(.*?)\}\}")
_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\"}


class CorpusError(ValueError):
    pass


class Case:
    """One corpus case: name, file (stem), ref, mode, limits (dict, empty
    for the defaults), input (bytes) and anvil's verdict."""

    __slots__ = ("name", "file", "line", "ref", "mode", "limits", "input", "expect",
                 "messages", "end", "status")

    def __init__(self, name, file, line):
        self.name = name
        self.file = file
        self.line = line
        self.ref = ""
        self.mode = "request"
        self.limits = {}
        self.input = b""
        self.expect = []
        self.messages = []
        self.end = "ok"
        self.status = 0

    def to_json(self):
        return {"name": self.name, "file": self.file, "ref": self.ref,
                "messages": [message_json(m) for m in self.messages],
                "end": self.end, "status": self.status}


def message_json(m):
    """A (method, target, body bytes) message as JSON (body as latin-1 text)."""
    method, target, body = m
    return {"method": method, "target": target, "body": body.decode("latin-1")}


def message_from_json(d):
    return (d["method"], d["target"], d["body"].encode("latin-1"))


def expand_repeats(line):
    def repeat(m):
        count = int(m.group(1))
        if count > 10_000_000:
            raise CorpusError("repeat count too large")
        return m.group(2) * count
    return _REPEAT.sub(repeat, line)


def unescape(line):
    out = bytearray()
    i = 0
    while i < len(line):
        c = line[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        if i + 1 >= len(line):
            raise CorpusError("escape at the end of a line")
        e = line[i + 1]
        if e in _ESCAPES:
            out += _ESCAPES[e].encode("latin-1")
            i += 2
        elif e == "x":
            out.append(int(line[i + 2:i + 4], 16))
            i += 4
        else:
            raise CorpusError("unknown escape \\" + e)
    return bytes(out)


def _verdict(case):
    """anvil's verdict from the expected lines: messages, end, status."""
    for line in case.expect:
        d = json.loads(line)
        if "error" in d:
            case.end, case.status = "error", d["status"]
            return
        if d.get("incomplete"):
            case.end = "incomplete"
            return
        if case.mode == "request":
            case.messages.append((d["method"], d["target"], d["body"].encode("latin-1")))


def parse_text(text, file):
    cases = []
    case = None
    section = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip(" \t\r")
        if line.startswith("==="):
            if case is not None:
                cases.append(case)
            words = line[3:].split()
            if len(words) != 1:
                raise CorpusError(f"{file}:{number}: bad case name")
            case = Case(words[0], file, number)
            section = "header"
            continue
        if not line or line.startswith("#"):
            continue
        if case is None:
            raise CorpusError(f"{file}:{number}: text outside a case")
        if section == "input":
            if line == "expect:":
                section = "expect"
            else:
                case.input += unescape(expand_repeats(line))
        elif section == "expect":
            if line != "(no output)":
                case.expect.append(expand_repeats(line))
        else:
            key, _, value = line.partition(":")
            value = value.strip(" ")
            if key == "input":
                section = "input"
            elif key == "ref":
                case.ref = value
            elif key == "mode":
                case.mode = value
            elif key == "limits":
                case.limits = dict(w.split("=", 1) for w in value.split())
            elif key not in ("flags", "head_response"):
                raise CorpusError(f"{file}:{number}: unknown key {key}")
    if case is not None:
        cases.append(case)
    for c in cases:
        _verdict(c)
    return cases


def load(directory):
    """Every case of every *.txt in directory, in file-name order."""
    cases = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".txt"):
            with open(os.path.join(directory, name), encoding="latin-1") as f:
                cases += parse_text(f.read(), name[:-4])
    return cases


def excluded(case):
    """Why a case is left out of the matrix, or None."""
    if case.mode != "request":
        return "a response case (the matrix is about requests)"
    if case.limits:
        return "set to anvil's own limits (" + " ".join(
            f"{k}={v}" for k, v in sorted(case.limits.items())) + "); other parsers have theirs"
    return None
