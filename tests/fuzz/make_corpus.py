#!/usr/bin/env python3
"""Writes the seed corpus of decoder_fuzz into corpus/ next to this script.

Each seed is one fuzz input (see decoder_fuzz.cpp): a version selector
byte, a two-byte max_packet_size (0 = protocol maximum), then a stream of
valid MQTT packets. Run it again after changing the seeds; the files are
committed so the fuzz test needs no Python.
"""

import pathlib
import struct

NONE, V31, V311, V5 = 0, 1, 2, 3


def vbi(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def s(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(data)) + data


def frame(first, *parts):
    body = b"".join(parts)
    return bytes([first]) + vbi(len(body)) + body


def props(*items):
    body = b"".join(items)
    return vbi(len(body)) + body


def u8(i, v):
    return bytes([i, v])


def u16(i, v):
    return bytes([i]) + struct.pack(">H", v)


def u32(i, v):
    return bytes([i]) + struct.pack(">I", v)


def string(i, v):
    return bytes([i]) + s(v)


def user(k, v):
    return bytes([0x26]) + s(k) + s(v)


def seed(version, max_size, *packets):
    return bytes([version]) + struct.pack(">H", max_size) + b"".join(packets)


SEEDS = {
    "session_v311": seed(
        NONE, 0,
        frame(0x10, s("MQTT"), b"\x04\xee\x00\x3c", s("client-1"),
              s("will/t"), s("bye"), s("user"), s("pass")),
        frame(0x82, b"\x00\x01", s("a/+"), b"\x01", s("b/#"), b"\x02"),
        frame(0x3b, s("a/b"), b"\x00\x02", b"payload"),
        frame(0x62, b"\x00\x02"),
        frame(0xa2, b"\x00\x03", s("a/+")),
        frame(0xc0),
        frame(0xe0)),
    "session_v31": seed(
        NONE, 4096,
        frame(0x10, s("MQIsdp"), b"\x03\x02\x00\x0a", s("old")),
        frame(0x30, s("t"), b"qos0"),
        frame(0x82, b"\x00\x07", s("t"), b"\x00")),
    "session_v5": seed(
        NONE, 0,
        frame(0x10, s("MQTT"), b"\x05\xc6\x00\x1e",
              props(u32(0x11, 3600), u16(0x21, 20), u32(0x27, 65536),
                    u16(0x22, 10), u8(0x17, 0), u8(0x19, 1),
                    string(0x15, "SCRAM-SHA-1"), string(0x16, "first"),
                    user("k", "v")),
              s("dev-42"),
              props(u32(0x18, 5), u8(0x01, 1), u32(0x02, 60),
                    string(0x03, "text/plain"), string(0x08, "re/42"),
                    string(0x09, "cd")),
              s("dev/42/status"), s("offline"), s("u"), s("pw")),
        frame(0x33, s("s/1"), b"\x00\x09",
              props(u8(0x01, 1), u32(0x02, 10), string(0x03, "json"),
                    string(0x08, "r/1"), string(0x09, "id"),
                    b"\x0b\x01", b"\x0b\xff\xff\xff\x7f", u16(0x23, 3),
                    user("a", "1"), user("a", "2")),
              b"{}"),
        frame(0x30, s(""), props(u16(0x23, 3)), b"aliased"),
        frame(0x82, b"\x00\x0a", props(b"\x0b\x2a"), s("a/+"), b"\x2e"),
        frame(0xf0, b"\x18", props(string(0x15, "SCRAM-SHA-1"),
                                   string(0x16, "final"))),
        frame(0xe0, b"\x04", props(u32(0x11, 0), string(0x1f, "bye")))),
    "server_v5": seed(
        V5, 0,
        frame(0x20, b"\x01\x00",
              props(u32(0x11, 7200), string(0x12, "auto-1"), u16(0x13, 45),
                    string(0x1a, "resp/"), string(0x1c, "core2:1883"),
                    string(0x1f, "welcome"), u16(0x21, 100), u16(0x22, 5),
                    u8(0x24, 1), u8(0x25, 0), u32(0x27, 1 << 20),
                    u8(0x28, 1), u8(0x29, 1), u8(0x2a, 0))),
        frame(0x40, b"\x00\x01\x10", props(string(0x1f, "no subscribers"))),
        frame(0x50, b"\x00\x02"),
        frame(0x62, b"\x00\x02\x92"),
        frame(0x70, b"\x00\x02"),
        frame(0x90, b"\x00\x0a", props(), b"\x02\x8f\xa2"),
        frame(0xb0, b"\x00\x0b", props(user("x", "y")), b"\x00\x11"),
        frame(0xd0),
        frame(0xe0, b"\x9c", props(string(0x1c, "core3:1883")))),
    "server_v311": seed(
        V311, 256,
        frame(0x20, b"\x01\x00"),
        frame(0x34, s("q/2"), b"\x00\x05", b"exactly once"),
        frame(0x50, b"\x00\x05"),
        frame(0x70, b"\x00\x05"),
        frame(0x90, b"\x00\x01", b"\x01\x80"),
        frame(0xb0, b"\x00\x03"),
        frame(0xd0)),
}


def main():
    out = pathlib.Path(__file__).resolve().parent / "corpus"
    out.mkdir(exist_ok=True)
    for name, data in SEEDS.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
