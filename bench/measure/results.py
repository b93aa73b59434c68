"""Writing results: a JSON file replaced atomically (a run interrupted
mid-write never leaves half a file, so a partial run can be resumed), and a
generated section of a Markdown file (the README's benchmark sections)
between two marker comments."""

import json
from pathlib import Path


def write_json(path, data):
    """data as indented JSON at path, through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def markers(name):
    """The comments that delimit the generated section `name`."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path, name, body):
    """Replaces the text between section `name`'s markers in the file at path
    with body (the markers stay); appends the section when the file has no
    markers yet."""
    begin, end = markers(name)
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    section = f"{begin}\n\n{body.strip()}\n\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
