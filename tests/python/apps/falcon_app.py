"""The framework test routes, in Falcon."""

import hashlib

import falcon


class Hello:
    def on_get(self, req, resp, name):
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"Hello, {name}!"


class Form:
    def on_post(self, req, resp):
        form = req.get_media()  # application/x-www-form-urlencoded handler
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"a={form['a']};b={form['b']}"


class Json:
    def on_post(self, req, resp):
        data = req.get_media()
        resp.media = {"sum": sum(data["numbers"]), "echo": data["echo"]}


class Upload:
    def on_post(self, req, resp):
        out = {}
        for part in req.get_media():
            if part.filename:
                data = part.stream.read()
                out.update(filename=part.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest())
            else:
                out[part.name] = part.text
        resp.media = out


class Stream:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = (f"chunk {i}\n".encode() for i in range(100))


class BigBody:
    def on_post(self, req, resp):
        data = req.bounded_stream.read()
        resp.media = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class BigResponse:
    def on_get(self, req, resp):
        resp.content_type = "application/octet-stream"
        resp.data = b"f" * (10 * 1024 * 1024)


app = falcon.App()
app.add_route("/hello/{name}", Hello())
app.add_route("/form", Form())
app.add_route("/json", Json())
app.add_route("/upload", Upload())
app.add_route("/stream", Stream())
app.add_route("/big-body", BigBody())
app.add_route("/big-response", BigResponse())
