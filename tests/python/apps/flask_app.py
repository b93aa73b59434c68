"""The framework test routes, in Flask."""

import hashlib

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get("/hello/<name>")
def hello(name):
    return f"Hello, {name}!"


@app.post("/form")
def form():
    return f"a={request.form['a']};b={request.form['b']}"


@app.post("/json")
def json_sum():
    data = request.get_json()
    return jsonify(sum=sum(data["numbers"]), echo=data["echo"])


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(filename=f.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                   field=request.form["field"])


@app.get("/stream")
def stream():
    return Response((f"chunk {i}\n" for i in range(100)), mimetype="text/plain")


@app.post("/big-body")
def big_body():
    data = request.get_data()
    return jsonify(size=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.get("/big-response")
def big_response():
    return Response(b"f" * (10 * 1024 * 1024), mimetype="application/octet-stream")
