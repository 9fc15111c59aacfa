"""A real HTTP receiver on loopback, started by a test, that records what it is sent
(the `receiver` fixture in tests/conftest.py)."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: str

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers `status` (after `delay` seconds); `received` lists what arrived, in order."""

    status: int = 200
    delay: float = 0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_type(self, event_type: str) -> list[dict]:
        return [r.payload for r in self.received if r.payload["type"] == event_type]


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            receiver.arrived.set()
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                status = receiver.status
                if 200 <= status < 300:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up waiting (a timeout test)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    return receiver, server
