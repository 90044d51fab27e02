"""A real local HTTP webhook receiver: verifies both signature schemes, counts by event id, can
fail at first, answer slowly, or drip its response a byte at a time."""

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from handover import rules


class Receiver:
    def __init__(
        self, secret: str, fail_first: int = 0, delay: float = 0.0, drip: float = 0.0
    ) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.delay = delay  # seconds before answering
        self.drip = drip  # answer 200 with headers at once, then a body byte every `drip` s
        self.requests = 0
        self.by_event: Counter[str] = Counter()
        self.arrivals: dict[str, float] = {}  # event id -> time.time() of its first arrival
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.release = threading.Event()  # set on exit: slow answers stop waiting
        self.url = ""
        # Standard Webhooks: the library's own check. A whsec_ secret is given as is; an older
        # secret as its bytes (docs/webhooks.md).
        key = secret if secret.startswith(rules.SECRET_PREFIX) else secret.encode()
        self.standard = Webhook(key)

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
        try:
            self.standard.verify(body, dict(headers.items()))
        except WebhookVerificationError:
            ok = False
        event_id = json.loads(body)["id"]
        with self.lock:
            if not ok:
                self.bad_signatures += 1
                return 400
            assert headers[rules.EVENT_ID_HEADER] == headers["webhook-id"] == event_id
            self.by_event[event_id] += 1
            self.arrivals.setdefault(event_id, time.time())
        return 200


@contextmanager
def webhook_receiver(
    secret: str, fail_first: int = 0, delay: float = 0.0, drip: float = 0.0
) -> Iterator[Receiver]:
    receiver = Receiver(secret, fail_first, delay, drip)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if receiver.delay and receiver.release.wait(receiver.delay):
                return  # the test is over
            status = receiver.handle(self.headers, body)
            self.send_response(status)
            if receiver.drip:
                self._drip(b"accepted, eventually")
                return
            self.send_header("Content-Length", "2")
            try:
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the sender hung up first (its deadline passed)
                return

        def _drip(self, payload: bytes) -> None:
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                for byte in payload:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if receiver.release.wait(receiver.drip):
                        return
            except OSError:  # the sender hung up (its deadline passed)
                return

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/leadflow"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
