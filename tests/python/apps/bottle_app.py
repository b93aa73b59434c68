"""The framework test routes, in Bottle."""

import hashlib
import json

import bottle

bottle.BaseRequest.MEMFILE_MAX = 64 * 1024 * 1024
app = bottle.Bottle()


@app.get("/hello/<name>")
def hello(name):
    return f"Hello, {name}!"


@app.post("/form")
def form():
    return f"a={bottle.request.forms.getunicode('a')};b={bottle.request.forms.getunicode('b')}"


@app.post("/json")
def json_sum():
    data = bottle.request.json
    return {"sum": sum(data["numbers"]), "echo": data["echo"]}


@app.post("/upload")
def upload():
    f = bottle.request.files.get("file")
    data = f.file.read()
    return {"filename": f.raw_filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "field": bottle.request.forms.getunicode("field")}


@app.get("/stream")
def stream():
    bottle.response.content_type = "text/plain"
    return (f"chunk {i}\n" for i in range(100))


@app.post("/big-body")
def big_body():
    data = bottle.request.body.read()
    bottle.response.content_type = "application/json"
    return json.dumps({"size": len(data), "sha256": hashlib.sha256(data).hexdigest()})


@app.get("/big-response")
def big_response():
    bottle.response.content_type = "application/octet-stream"
    return b"f" * (10 * 1024 * 1024)
