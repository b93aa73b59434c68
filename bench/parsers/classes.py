"""Case classes of the strictness matrix: each corpus case is put in one
class by its name (the first pattern that matches), and each class names
the RFC rule its cases test, so that a parser that lets a case through is
reported with the rule it breaks.

A new corpus case falls into the first class whose pattern matches its
name, or into "other (<file>)"; add a pattern here when a new kind of case
appears.
"""

import re

# (key, label, rule, name pattern); order matters: the first match wins.
CLASSES = [
    ("flags", "connection options",
     "RFC 9112 §9.3 (keep-alive), RFC 9110 §10.1.1 (Expect), §7.8 (Upgrade): flags the "
     "matrix does not compare; listed for the framing only",
     r"^keep_alive|^expect_|^upgrade_|^connection_upgrade|^body_kind|content_length_zero_flags"),
    ("pipelining", "after a bad request / pipelining",
     "RFC 9112 §9.3 and §6.3 ¶5: pipelined requests are answered in order, and after a "
     "request whose framing is invalid the server MUST close: nothing after it is a request "
     "(CVE-2024-49768)",
     r"^(pipelined_|cve_2024_49768_)"),
    ("cl_te", "CL and TE together (CL.TE / TE.CL)",
     "RFC 9112 §6.3 ¶3 and §6.1: Transfer-Encoding overrides Content-Length, and such a "
     "message 'ought to be handled as an error' (a smuggling attempt); a server may process "
     "it by TE only if it closes the connection after the response",
     r"content_length_and_(transfer_encoding|chunked)|transfer_encoding_and_content_length|"
     r"te_(unknown|quoted)_with_content_length|before_content_length|content_length_and_te"),
    ("te_http10", "Transfer-Encoding in HTTP/1.0",
     "RFC 9112 §6.1: a message in HTTP/1.0 with Transfer-Encoding MUST be treated as having "
     "faulty framing (400, close)",
     r"http10_(te|before)|transfer_encoding_in_http10"),
    ("obs_fold", "obs-fold (line folding)",
     "RFC 9112 §5.2: a server MUST reject a request with obs-fold (400) or replace each fold "
     "with SP before interpreting the field (CVE-2022-32215: a folded Transfer-Encoding)",
     r"^(chunked_trailer_)?obs_fold|cve_2022_32215|whitespace_before_first_field"),
    ("te_coding", "Transfer-Encoding codings (TE obfuscation)",
     "RFC 9112 §6.3 ¶4 and §7: in a request, chunked MUST be the final coding and may be "
     "applied once (else 400 and close); RFC 9112 §6.1: a coding the server does not implement "
     "is 501 (anvil implements only chunked in requests: gzip, chunked is 501, issue 9)",
     r"^transfer_encoding_|^cve_2020_8287_|^cve_2024_1135_te_|^cve_2024_6827_te_|"
     r"order_(unknown_coding|chunked)"),
    ("cl_value", "Content-Length value",
     "RFC 9110 §8.6: Content-Length = 1*DIGIT, differing values or a list of them are "
     "invalid; RFC 9112 §6.3 ¶5: an invalid Content-Length is an unrecoverable framing error "
     "(400, close) (CVE-2022-24761: '+', hex, '_' and Unicode digits)",
     r"^content_length_|^cve_2022_24761_content_length"),
    ("chunk_size", "chunk size",
     "RFC 9112 §7.1: chunk-size = 1*HEXDIG (no sign, prefix, '_' or spaces; CVE-2022-24761), "
     "and a recipient MUST prevent integer overflow in it",
     r"^chunked_size_(?!lf_only|cr_not_lf)|^cve_2022_24761_chunk_size|chunked_many_leading|"
     r"chunked_leading_zeros|chunked_hex|chunked_max_size"),
    ("chunk_ext", "chunk extensions",
     "RFC 9112 §7.1.1: chunk-ext = *( BWS ';' BWS name [ BWS '=' BWS value ] ), tokens or "
     "quoted strings: no bare CR or LF in it (CVE-2022-32213)",
     r"^chunked_ext_|^cve_2022_32213_chunk_ext"),
    ("chunk_crlf", "chunk line endings",
     "RFC 9112 §7.1: chunk = chunk-size [chunk-ext] CRLF chunk-data CRLF; chunk data of "
     "exactly the declared size followed by CRLF (CVE-2022-32213: a bare LF)",
     r"^chunked_data_|chunk_size_bare_lf|chunked_size_lf_only|chunked_size_cr_not_lf|"
     r"chunked_(inside_data|last_chunk)_then|chunked_single_chunk|chunked_body_then"),
    ("trailers", "trailer fields",
     "RFC 9112 §7.1.2: the trailer section is field lines, under the same rules as the "
     "header section; a trailer field does not frame the message",
     r"^chunked_trailer|lf_only_trailer"),
    ("bare_lf", "bare LF in the head",
     "RFC 9112 §2.2: CRLF ends the start-line and each field line; a recipient MAY take a "
     "bare LF as one, which desynchronises it from one that does not (CVE-2022-32214)",
     r"lf_only|bare_lf|lf_lf"),
    ("bare_cr", "bare CR",
     "RFC 9112 §2.2: a bare CR outside the content MUST be treated as invalid or replaced "
     "with SP (CVE-2023-30589)",
     r"bare_cr|cr_cr|cr_then|cve_2023_30589|cr_without_lf"),
    ("ws_colon", "whitespace before the colon",
     "RFC 9112 §5.1: a server MUST reject (400) a request with whitespace between a field "
     "name and its colon",
     r"(space|tab)_before_colon"),
    ("host", "Host",
     "RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, or with "
     "more than one Host field line",
     r"host_"),
    ("field_bytes", "field names and values",
     "RFC 9110 §5.1: a field name is a token; RFC 9110 §5.5: CR, LF and NUL in a value MUST "
     "be rejected or replaced with SP; other controls are not field-vchar",
     r"^name_|^value_|line_without_colon|bad_field_name|field_line_then|fields_kept|"
     r"char_error"),
    ("request_line", "request line",
     "RFC 9112 §3: method SP request-target SP HTTP-version, single spaces, method a token, "
     "no controls in the target; RFC 9110 §15.6.6: 505 for an unsupported major version",
     r"^method_|^request_line|^target_|^version_|http09|^get_(minimal|http10)|empty_lines_before|"
     r"_before_request_line|partial_request_line|empty_input|only_empty_lines|bad_method"),
    ("limits", "anvil's default limits",
     "no RFC rule: anvil's default limits (request line 8 KiB, header section 64 KiB, 100 "
     "fields); other parsers have their own",
     r"^default_"),
    ("valid_framing", "message body framing",
     "RFC 9112 §6: the body's length from Transfer-Encoding, Content-Length, or none",
     r"^chunked_|^post_without|^get_without"),
]

_COMPILED = [(key, re.compile(pattern)) for key, _, _, pattern in CLASSES]
LABELS = {key: label for key, label, _, _ in CLASSES}
# What letting a case of the class through means under the RFCs: some rules
# are MUSTs, some leave the recipient a choice (which anvil does not take).
TAKES = {
    "flags": "breaks nothing (the matrix compares framing only)",
    "pipelining": (
        "breaks a MUST: a request processed after one whose framing is invalid is how "
        "CVE-2024-49768 smuggled"),
    "cl_te": (
        "is allowed only when Transfer-Encoding wins and the connection closes after the "
        "response; framing it by Content-Length is the CL.TE / TE.CL desync"),
    "te_http10": (
        "is allowed only when the connection closes after the message; framing it as chunked "
        "is not"),
    "obs_fold": (
        "is allowed only when each fold becomes SP before the value is used; otherwise it breaks "
        "a MUST"),
    "te_coding": (
        "breaks a MUST (chunked not final, or twice: 400 and close) or a SHOULD (a coding it "
        "does not implement: 501); ignoring the field frames the body as the next request, and "
        "accepting gzip, chunked without decoding hands the app coded bytes as the content"),
    "cl_value": "breaks a MUST (400 and close)",
    "chunk_size": "breaks the grammar and, for an overflow, a MUST",
    "chunk_ext": "breaks the grammar (CVE-2022-32213 smuggled through it)",
    "chunk_crlf": "breaks the grammar",
    "trailers": "breaks the grammar",
    "bare_lf": (
        "is allowed (MAY) in the start-line and field lines, and a desync risk behind a front "
        "end that does not take it"),
    "bare_cr": "breaks a MUST (invalid, or replaced by SP)",
    "ws_colon": "breaks a MUST (400)",
    "host": "breaks a MUST (400)",
    "field_bytes": (
        "breaks a MUST for CR, LF and NUL in values (reject or replace), the grammar otherwise"),
    "request_line": "breaks the grammar",
    "limits": "breaks nothing (a limit, not a rule)",
    "valid_framing": "breaks the framing rules",
}
RULES = {key: rule for key, _, rule, _ in CLASSES}


def class_of(case_name, file=""):
    for key, pattern in _COMPILED:
        if pattern.search(case_name):
            return key
    return "other:" + file


def label_of(key):
    return LABELS.get(key, key.replace("other:", "other (") + ")" if key.startswith("other:")
                      else key)


def rule_of(key):
    return RULES.get(key, "")


def takes_of(key):
    return TAKES.get(key, "")
