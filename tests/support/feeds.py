"""A local stand-in for the ECB's daily exchange-rate feed, served over real HTTP."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ECB_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender>
\t\t<gesmes:name>European Central Bank</gesmes:name>
\t</gesmes:Sender>
\t<Cube>
\t\t<Cube time='2026-11-20'>
\t\t\t<Cube currency='USD' rate='1.0812'/>
\t\t\t<Cube currency='JPY' rate='162.45'/>
\t\t\t<Cube currency='GBP' rate='0.84213'/>
\t\t\t<Cube currency='CHF' rate='0.9387'/>
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>
"""


class FeedServer:
    """Serves one configurable response at /eurofxref-daily.xml; counts the requests and remembers the most
    it served at once. After hold(), requests wait for release(): a feed as slow as a test needs."""

    def __init__(self):
        self.status, self.body = 200, ECB_FEED
        self.lock = threading.Lock()
        self.answering = threading.Event()
        self.answering.set()
        self.requests = self.in_flight = self.most_at_once = 0
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with feed.lock:
                    feed.requests += 1
                    feed.in_flight += 1
                    feed.most_at_once = max(feed.most_at_once, feed.in_flight)
                feed.answering.wait(timeout=120)
                with feed.lock:
                    feed.in_flight -= 1
                self.send_response(feed.status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/eurofxref-daily.xml"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, body: bytes, status: int = 200) -> None:
        self.status, self.body = status, body

    def hold(self) -> None:
        self.answering.clear()

    def release(self) -> None:
        self.answering.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
