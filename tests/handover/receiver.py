"""A real local HTTP webhook receiver: verifies signatures, counts by event id, can fail at first."""

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from handover import rules


class Receiver:
    def __init__(self, secret: str, fail_first: int = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.requests = 0
        self.by_event: Counter[str] = Counter()
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.url = ""

    def handle(self, headers, body: bytes) -> int:
        if rules.SIGNATURE_HEADER not in headers:  # a benchmark's unsigned baseline request
            return 200
        with self.lock:
            self.requests += 1
            if self.requests <= self.fail_first:
                return 503
        ok = rules.verify(
            secret=self.secret,
            timestamp=int(headers[rules.TIMESTAMP_HEADER]),
            body=body,
            signature=headers[rules.SIGNATURE_HEADER],
            now=int(time.time()),
        )
        event_id = json.loads(body)["id"]
        with self.lock:
            if not ok:
                self.bad_signatures += 1
                return 400
            assert headers[rules.EVENT_ID_HEADER] == event_id
            self.by_event[event_id] += 1
        return 200


@contextmanager
def webhook_receiver(secret: str, fail_first: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(secret, fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = receiver.handle(self.headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/leadflow"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
