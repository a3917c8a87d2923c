"""A local chat-completions server for tests and benchmarks: answers from a script, with optional latency.

with ChatServer(replies=["{...}"], latency_s=0.5) as server:
    server.base_url  # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer:
    def __init__(
        self,
        replies: list[str] | Callable[[dict], str] | None = None,
        latency_s: float = 0.0,
        statuses: list[int] | None = None,
        reject_response_format: bool = False,
        refuse: Callable[[dict], tuple[int, dict] | None] | None = None,
        finish_reason: str = "stop",
        models: dict | None = None,
    ) -> None:
        self.replies = replies if replies is not None else ["{}"]
        self.latency_s = latency_s
        self.statuses = list(statuses or [])  # HTTP statuses to answer first (e.g. [429, 500]) before succeeding
        self.reject_response_format = reject_response_format
        self.refuse = refuse  # body -> (status, error body) to answer instead, or None: a server's own refusals
        self.finish_reason = finish_reason
        self.models = models  # what GET /v1/models lists (vLLM adds max_model_len); None: 404
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0  # concurrent requests now, and the most seen at once
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                found = self.path.endswith("/models") and server.models is not None
                data = json.dumps(server.models if found else {"detail": "Not Found"}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.latency_s)
                status, payload = server.answer(body)
                with server._lock:
                    server.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # socketserver's default of 5 would refuse a burst of parallel calls

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def answer(self, body: dict) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(body)
            if self.statuses:
                status = self.statuses.pop(0)
                return status, {"error": {"message": f"scripted {status}", "type": "test"}}
            refusal = self.refuse(body) if self.refuse else None
            if refusal is not None:
                return refusal
            if self.reject_response_format and "response_format" in body:
                return 400, {"error": {"message": "response_format is not supported", "type": "invalid_request_error"}}
            if callable(self.replies):
                text = self.replies(body)
            else:
                text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return 200, {
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body.get("model", "test"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": self.finish_reason}],
            "usage": {"prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]), "completion_tokens": len(text.split()),
                      "total_tokens": 0},
        }  # fmt: skip

    def __enter__(self) -> ChatServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
