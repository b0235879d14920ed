"""A stand-in for the Kubernetes API server, for test_discovery: no
Kubernetes API server is packaged in Debian, so this serves what one would
answer for GET /api/v1/namespaces/{ns}/endpoints/{svc}, over HTTPS, and
only to a request carrying the expected bearer token (401 otherwise). The
Endpoints object is read from a file at every request, so a test changes
the answer between rounds by rewriting the file. Each request is logged
as one JSON line on stdout.

usage: fake_k8s.py HOST PORT CERT KEY TOKEN ENDPOINTS_FILE NAMESPACE SERVICE
"""

import http.server
import json
import ssl
import sys

host, port, cert, key, token, endpoints, ns, svc = sys.argv[1:9]
path = f"/api/v1/namespaces/{ns}/endpoints/{svc}"


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        authorized = self.headers.get("Authorization") == f"Bearer {token}"
        print(json.dumps({"path": self.path, "authorized": authorized}), flush=True)
        if not authorized:
            self.reply(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
        elif self.path != path:
            self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})
        else:
            with open(endpoints) as f:
                self.reply(200, json.load(f))

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(json.dumps({"listening": True}), flush=True)
server.serve_forever()
