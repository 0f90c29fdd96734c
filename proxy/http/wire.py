"""The HTTP/1.1 wire under uvicorn: a request that cannot even be parsed gets an OpenAI-shaped JSON 400.

uvicorn answers an unparsable request itself, before the app sees it, with a plain-text 400; every other
error the proxy sends is `{"error": {...}}`, which the OpenAI SDKs read. This protocol keeps uvicorn's
behaviour (answer, then close the connection) and changes only the body.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol


class JsonErrorHttpTools(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        error = {"message": f"{msg} (malformed HTTP/1.1)", "type": "invalid_request_error", "param": None}
        body = json.dumps({"error": {**error, "code": "malformed_http"}}).encode()
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
