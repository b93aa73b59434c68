# The survey's recommended client: locust with FastHttpUser (geventhttpclient),
# keep-alive, no think time. Run headless by bench/loadgen/bench.py.
from locust import FastHttpUser, constant, task


class Hammerless(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self):
        self.client.get("/")
