"""Requests the endpoint refuses: 4xx errors, and servers that do not support a response_format."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from swarm.model import ModelClient, ModelRequestRejected, ModelSettings
from swarm.testing import ScriptedModelServer

ASK = [{"role": "user", "content": "hello"}]
SCHEMA = {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}


class PickyServer:
    """A real loopback endpoint that refuses some response_format types, like many local servers do.

    The scripted server ignores response_format, so this small one stands in for
    servers that reject it; it also answers 401 when told the key is wrong.
    """

    def __init__(self, refuse=(), status_for_all=None):
        self.bodies = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.bodies.append(body)
                kind = (body.get("response_format") or {}).get("type")
                if status_for_all:
                    self._send(status_for_all, {"error": {"message": "Incorrect API key provided", "type": "auth"}})
                elif kind in refuse:
                    message = f"response_format type '{kind}' is not supported by this server"
                    self._send(400, {"error": {"message": message, "type": "invalid_request_error"}})
                else:
                    self._send(200, {
                        "id": "x", "object": "chat.completion", "created": 0, "model": "picky",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": '{"ok": true}'}}],
                    })

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def formats(self):
        return [(body.get("response_format") or {}).get("type") for body in self.bodies]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._httpd.shutdown()
        self._httpd.server_close()


def client_for(url, **overrides):
    return ModelClient(ModelSettings(**{"base_url": url, "model": "m", **overrides}), sleep=lambda s: None)


def test_400_is_rejected_at_once_without_retries():
    with ScriptedModelServer([{"reply": "only for greetings", "match": "^greet"}]) as server:
        with pytest.raises(ModelRequestRejected, match=r"rejected the request with HTTP 400: .*no script line matches"):
            client_for(server.url).complete(ASK)
        assert len(server.requests) == 1


def test_401_is_rejected_naming_the_env_var_that_holds_the_key():
    with PickyServer(status_for_all=401) as server:
        with pytest.raises(ModelRequestRejected, match=r"HTTP 401: .*environment variable MY_MODEL_KEY") as caught:
            client_for(server.url, api_key_env="MY_MODEL_KEY").complete(ASK)
        assert len(server.bodies) == 1
    assert caught.value.status == 401


def test_schema_is_sent_as_json_schema_response_format():
    with PickyServer() as server:
        reply = client_for(server.url).complete(ASK, schema=SCHEMA)
        assert server.bodies[0]["response_format"] == {
            "type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}
        }
    assert reply.data == {"ok": True}


def test_refused_json_schema_falls_back_to_json_object_and_is_remembered():
    with PickyServer(refuse={"json_schema"}) as server:
        client = client_for(server.url)
        assert client.complete(ASK, schema=SCHEMA).data == {"ok": True}
        assert client.complete(ASK, schema=SCHEMA).data == {"ok": True}
        assert server.formats() == ["json_schema", "json_object", "json_object"]


def test_refused_json_object_too_falls_back_to_no_response_format():
    with PickyServer(refuse={"json_schema", "json_object"}) as server:
        client = client_for(server.url)
        assert client.complete(ASK, schema=SCHEMA).data == {"ok": True}
        assert client.complete(ASK, json=True).data == {"ok": True}
        assert server.formats() == ["json_schema", "json_object", None, None]


@pytest.mark.parametrize("structured, first", [("json_object", "json_object"), ("off", None)])
def test_structured_setting_chooses_the_first_format_tried(structured, first):
    with PickyServer() as server:
        client_for(server.url, structured=structured).complete(ASK, schema=SCHEMA)
        assert server.formats() == [first]


def test_plain_calls_send_no_response_format():
    with PickyServer() as server:
        assert client_for(server.url).complete(ASK).data is None
        assert server.formats() == [None]
