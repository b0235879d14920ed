"""A synchronous wrapper around paho-mqtt (an independent client) for tests:
every wait is on an event with a deadline."""

import queue
import socket
import struct
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

V311 = paho.MQTTv311
V31 = paho.MQTTv31
V5 = paho.MQTTv5


class Client:
    def __init__(self, port, client_id="", version=V311, clean=True,
                 keepalive=60, will=None, session_expiry=None, username=None,
                 password=None, connect=True, receive_maximum=None,
                 transport="tcp", tls=None):
        """`transport`: "tcp" or "websockets" (path /mqtt); `tls`: a dict of
        paho's tls_set arguments (ca_certs, certfile, keyfile)."""
        self.port = port
        self.client_id = client_id
        self.version = version
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.disconnects = queue.Queue()
        self.subacks = queue.Queue()
        self.unsubacks = queue.Queue()
        self.published = set()
        self.pub_cv = threading.Condition()
        # A kicked or dropped client must stay down: the tests decide when to
        # reconnect (paho would otherwise take the session back by itself).
        kw = {"client_id": client_id, "protocol": version,
              "reconnect_on_failure": False}
        if version != V5:
            kw["clean_session"] = clean
        self.c = paho.Client(transport=transport, **kw)
        if transport == "websockets":
            self.c.ws_set_options(path="/mqtt")
        if tls is not None:
            self.c.tls_set(**tls)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will:
            topic, payload, qos, retain = will
            self.c.will_set(topic, payload, qos, retain)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_disconnect = self._on_disconnect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = lambda c, u, mid, *rest: self.unsubacks.put((mid, rest))
        self.c.on_publish = self._on_publish
        self.clean = clean
        self.keepalive = keepalive
        self.session_expiry = session_expiry
        self.receive_maximum = receive_maximum
        if connect:
            self.connect()

    # -- callbacks (paho's thread) --
    def _on_connect(self, c, u, flags, rc, props=None):
        self.connack.put((flags, rc, props))

    def _on_disconnect(self, c, u, rc, props=None):
        self.disconnects.put((rc, props))

    def _on_subscribe(self, c, u, mid, granted, props=None):
        self.subacks.put((mid, granted))

    def _on_publish(self, c, u, mid):
        with self.pub_cv:
            self.published.add(mid)
            self.pub_cv.notify_all()

    # -- actions --
    def connect(self, timeout=10):
        kw = {}
        if self.version == V5:
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry is not None:
                props.SessionExpiryInterval = self.session_expiry
            if self.receive_maximum is not None:
                props.ReceiveMaximum = self.receive_maximum
            kw = {"clean_start": self.clean, "properties": props}
        self.c.connect("127.0.0.1", self.port, self.keepalive, **kw)
        self.c.loop_start()
        flags, rc, props = self.connack.get(timeout=timeout)
        self.connack_flags, self.connack_rc, self.connack_props = flags, rc, props
        return flags, rc, props

    def connack_code(self):
        """The CONNACK reason code (MQTT 5) or return code (3.x) as an int."""
        rc = self.connack_rc
        return rc.value if hasattr(rc, "value") else rc

    def subscribe(self, topic, qos=0, timeout=10, **options):
        if self.version == V5:
            opts = paho.SubscribeOptions(qos=qos, **options)
            rc, mid = self.c.subscribe(topic, options=opts)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        assert rc == paho.MQTT_ERR_SUCCESS, rc
        got_mid, granted = self.subacks.get(timeout=timeout)
        assert got_mid == mid
        # v5 reports ReasonCodes objects, 3.x plain ints.
        return tuple(g.value if hasattr(g, "value") else g for g in granted)

    def publish(self, topic, payload, qos=0, retain=False, wait=True, timeout=10,
                properties=None):
        info = self.c.publish(topic, payload, qos, retain, properties=properties)
        if wait and qos > 0:
            with self.pub_cv:
                ok = self.pub_cv.wait_for(lambda: info.mid in self.published, timeout)
            assert ok, f"no acknowledgement for {topic} (qos {qos})"
        return info

    def expect(self, timeout=10):
        """The next message received (paho MQTTMessage)."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within "
                                 f"{timeout}s") from None

    def expect_on(self, suffix, predicate=lambda m: True, timeout=10):
        """The first message whose topic ends with `suffix` and satisfies
        `predicate`; others are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if m.topic.endswith(suffix) and predicate(m):
                return m

    def expect_n(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        got = []
        try:
            while len(got) < n:
                got.append(self.messages.get(
                    timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: {len(got)} of {n} messages "
                                 f"within {timeout}s") from None
        return got

    def expect_none(self, within):
        """Asserts that no message arrives within `within` seconds (used only
        where the absence of an event is the thing being tested)."""
        try:
            m = self.messages.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {m.topic}: {m.payload!r}")

    def wait_disconnect(self, timeout=10):
        return self.disconnects.get(timeout=timeout)

    def disconnect(self):
        self.c.disconnect()
        self.c.loop_stop()

    def abort(self):
        """Drops the TCP connection without DISCONNECT (an abnormal close)."""
        self.c.loop_stop()
        self.c.socket().shutdown(socket.SHUT_RDWR)
        self.c.socket().close()


def raw_connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def encode_remaining_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id="raw", version=4, keepalive=60, clean=True, props=b""):
    vh = mqtt_str("MQTT") + bytes([version, 0x02 if clean else 0]) + struct.pack("!H", keepalive)
    if version == 5:
        vh += encode_remaining_length(len(props)) + props
    body = vh + mqtt_str(client_id)
    return bytes([0x10]) + encode_remaining_length(len(body)) + body


def read_packet(sock, timeout=10):
    """Reads one MQTT packet: (first byte, body) or None on EOF."""
    sock.settimeout(timeout)
    first = sock.recv(1)
    if not first:
        return None
    mult, length = 1, 0
    while True:
        b = sock.recv(1)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return first[0], body


def wait_closed(sock, timeout=10):
    """True once the server closed the socket (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
