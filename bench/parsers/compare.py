"""What a parser made of a corpus case, against anvil's verdict.

Categories (one per case and parser):
  same     the same messages (method, target, body bytes), and the same end:
           both reject, or both end cleanly (at the end of the input,
           "still waiting" and "rejected" count as the same when anvil is the
           one waiting: neither delivers anything more);
  accepts  delivers a message, or takes bytes without an error, where anvil
           rejects: it lets the case through;
  differs  both deliver, but a message differs (method, target, body) or the
           number of messages differs without an error deciding it: the
           parser frames the bytes differently from anvil;
  rejects  rejects what anvil delivers (stricter, or a bug of its own);
  truncates  delivers a message that anvil still waits for the rest of when
           the input ends: it takes the end of the input as the end of the
           message (a truncated request reaches the app);
  stops    delivers fewer messages than anvil and ends cleanly: it stopped
           reading (closed the connection) earlier, nothing is let through;
  waits    still waiting for bytes at the end of the input where anvil has
           decided (rejected, or ended cleanly);
  hang     did not finish (a busy loop, stopped after 1 s of CPU, 0.3 s in
           a quick run);
  error    the driver itself failed (a harness bug, shown, never hidden).

"accepts" and "differs" are the ones that matter for request smuggling:
those bytes mean something else to this parser than to a strict one.
"""

CATEGORIES = ("same", "accepts", "differs", "truncates", "rejects", "stops", "waits", "hang",
              "error")
LETS_THROUGH = ("accepts", "differs")


def _first_difference(a, b):
    """Which part of message a differs from b, or None."""
    (am, at, ab), (bm, bt, bb) = a, b
    if am != bm:
        return f"method {bm!r} (anvil {am!r})"
    if at != bt:
        return f"target {bt!r} (anvil {at!r})"
    if ab != bb:
        if len(ab) != len(bb):
            return f"body {len(bb)} bytes (anvil {len(ab)})"
        return f"body bytes differ ({len(bb)} bytes)"
    return None


def compare(anvil_messages, anvil_end, messages, end, one_per_connection=False):
    """(category, what differs) for one case; messages are (method, target, body)."""
    if end == "hang":
        return "hang", ""
    if end == "driver-error":
        return "error", ""
    if one_per_connection:
        # The server answers one request and closes: later bytes are never read.
        if len(anvil_messages) > 1 or (anvil_messages and anvil_end != "ok"):
            anvil_messages, anvil_end = anvil_messages[:1], "ok"
        messages = messages[:1]
    for i, (a, p) in enumerate(zip(anvil_messages, messages)):
        what = _first_difference(a, p)
        if what:
            return "differs", f"message {i + 1}: {what}"
    na, np = len(anvil_messages), len(messages)
    if np > na:
        if anvil_end == "error":
            m, t, b = messages[na]
            more = f", then {np - na - 1} more request(s)" if np - na > 1 else ""
            return "accepts", f"delivers {m} {t[:40]} with a {len(b)}-byte body{more}"
        if anvil_end == "incomplete":
            return "truncates", f"message {na + 1} delivered at the end of the input"
        return "differs", f"{np} messages (anvil {na})"
    if np < na:
        if end == "error":
            return "rejects", f"message {np + 1}"
        if end == "incomplete":
            return "differs", f"waits for more bytes in message {np + 1}"
        return "stops", f"after message {np} (anvil {na})"
    if end == anvil_end or (anvil_end == "incomplete" and end in ("error", "ok")):
        return "same", ""
    if anvil_end == "error":
        return ("accepts", "takes the bytes without an error") if end == "ok" else ("waits", "")
    if end == "error":
        return "rejects", "at the end"
    return "waits", "at the end"
