"""An MQTT client (paho) run inside a host's network namespace by the
partition tests: `ip netns exec NS python3 ns_mqtt.py sub ...`.

sub: connects (MQTT 5, persistent session), subscribes, then prints one
JSON line per event on stdout: {"ev": "connack", "present": ...},
{"ev": "sub"}, {"ev": "msg", "topic": ..., "payload": ...} and, when the
broker closes the session, {"ev": "disconnect", "rc": N}, and exits.
It never reconnects by itself: a test decides that.
pub: publishes one message at QoS 1 and exits 0 once it is acknowledged.
"""

import argparse
import json
import sys
import threading

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def sub(a):
    c = paho.Client(client_id=a.id, protocol=paho.MQTTv5,
                    reconnect_on_failure=False)
    done = threading.Event()

    def on_connect(c, u, flags, rc, props=None):
        emit(ev="connack", rc=int(rc.value) if hasattr(rc, "value") else int(rc),
             present=bool(flags.get("session present")))
        c.subscribe(a.topic, qos=1)

    def on_disconnect(c, u, rc, props=None):
        emit(ev="disconnect", rc=int(rc.value) if hasattr(rc, "value") else int(rc))
        done.set()

    c.on_connect = on_connect
    c.on_subscribe = lambda c, u, mid, rc, props=None: emit(ev="sub")
    c.on_message = lambda c, u, m: emit(ev="msg", topic=m.topic,
                                        payload=m.payload.decode())
    c.on_disconnect = on_disconnect
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c.connect("127.0.0.1", a.port, keepalive=30, clean_start=False,
              properties=props)
    c.loop_start()
    done.wait()
    c.loop_stop()


def pub(a):
    c = paho.Client(client_id="", protocol=paho.MQTTv5)
    c.connect("127.0.0.1", a.port, keepalive=30)
    c.loop_start()
    info = c.publish(a.topic, a.payload, qos=1)
    info.wait_for_publish(10)
    ok = info.is_published()
    c.disconnect()
    c.loop_stop()
    sys.exit(0 if ok else 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sub", "pub"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--id", default="")
    p.add_argument("--topic", required=True)
    p.add_argument("--payload", default="")
    a = p.parse_args()
    (sub if a.mode == "sub" else pub)(a)


if __name__ == "__main__":
    main()
