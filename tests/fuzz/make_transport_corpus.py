#!/usr/bin/env python3
"""Writes the seed corpora of tls_record_fuzz (corpus_tls/) and
websocket_frame_fuzz (corpus_ws/) next to this script. Input layouts are
described at the top of each target. The ClientHellos are real ones, from
Python's ssl module over memory BIOs. The files are committed so the fuzz
tests need no Python."""

import pathlib
import ssl
import struct

HERE = pathlib.Path(__file__).resolve().parent
CONNECT = bytes([0x10, 0x0c, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0])


def client_hello(max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version:
        ctx.maximum_version = max_version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="x")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def frame(op, payload, fin=True, mask=b"\x11\x22\x33\x44"):
    out = bytes([(0x80 if fin else 0) | op])
    n = len(payload)
    out += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return out + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


UPGRADE = (b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")


def main():
    tls = HERE / "corpus_tls"
    tls.mkdir(exist_ok=True)
    for name, version in [("hello13", None), ("hello12", ssl.TLSVersion.TLSv1_2)]:
        hello = client_hello(version)
        (tls / name).write_bytes(bytes([0, min(255, len(hello) // 2)]) + hello)
    (tls / "after_appdata").write_bytes(bytes([1, 3, 23, 3, 3, 0, 20]) + bytes(20))
    (tls / "after_alert").write_bytes(bytes([1, 0, 21, 3, 3, 0, 2, 1, 0]))
    (tls / "plain_mqtt").write_bytes(bytes([0, 5]) + CONNECT)
    ws = HERE / "corpus_ws"
    ws.mkdir(exist_ok=True)
    (ws / "upgrade").write_bytes(bytes([0, 40]) + UPGRADE)
    (ws / "upgrade_v31").write_bytes(
        bytes([0, 0]) + UPGRADE.replace(b"Protocol: mqtt", b"Protocol: mqttv3.1, mqtt"))
    (ws / "connect_frame").write_bytes(bytes([1, 3]) + frame(2, CONNECT))
    (ws / "fragments").write_bytes(
        bytes([1, 7]) + frame(2, CONNECT[:5], False) + frame(0, CONNECT[5:]))
    (ws / "ping_close").write_bytes(bytes([1, 0]) + frame(9, b"hi") + frame(8, b"\x03\xe8"))
    (ws / "text_frame").write_bytes(bytes([1, 1]) + frame(1, b"\xff\xfe"))
    (ws / "long_frame").write_bytes(bytes([1, 2]) + frame(2, bytes(300)))


if __name__ == "__main__":
    main()
