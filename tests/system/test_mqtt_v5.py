"""MQTT 5 features end to end with paho: properties pass-through, message
expiry, will delay, subscription identifiers, no-local."""

import time
import unittest

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from harness import MqttTest
from mqtt_client import V5, Client


def publish_props(**kw):
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class V5Test(MqttTest):
    version = V5

    def test_request_response_and_user_properties_pass_through(self):
        sub = self.client("responder")
        sub.subscribe("req/#", qos=1)
        pub = self.client("requester")
        pub.publish("req/1", b"q", qos=1, properties=publish_props(
            ResponseTopic="resp/requester", CorrelationData=b"\x01\x02",
            ContentType="text/plain", PayloadFormatIndicator=1,
            UserProperty=[("a", "1"), ("a", "2"), ("b", "x")]))
        m = sub.expect()
        p = m.properties
        self.assertEqual(p.ResponseTopic, "resp/requester")
        self.assertEqual(p.CorrelationData, b"\x01\x02")
        self.assertEqual(p.ContentType, "text/plain")
        self.assertEqual(p.PayloadFormatIndicator, 1)
        self.assertEqual(p.UserProperty, [("a", "1"), ("a", "2"), ("b", "x")])

    def test_expired_messages_are_not_delivered_from_the_queue(self):
        c = self.client("exp", clean=False, session_expiry=300)
        c.subscribe("exp/#", qos=1)
        c.disconnect()
        self.clients.remove(c)
        pub = self.client("exppub")
        pub.publish("exp/short", b"gone", qos=1,
                    properties=publish_props(MessageExpiryInterval=1))
        pub.publish("exp/long", b"kept", qos=1,
                    properties=publish_props(MessageExpiryInterval=300))
        # Not synchronisation: expiry is about time passing on the broker's
        # clock, so the 1 s interval has to lapse before the client returns.
        time.sleep(1.5)
        back = self.client("exp", clean=False, session_expiry=300)
        m = back.expect()
        self.assertEqual((m.topic, m.payload), ("exp/long", b"kept"))
        # The remaining interval is forwarded, reduced by the time queued.
        self.assertLessEqual(m.properties.MessageExpiryInterval, 299)
        back.expect_none(0.3)

    def test_will_delay_is_cancelled_by_a_reconnect_and_fires_otherwise(self):
        watcher = self.client("watcher")
        watcher.subscribe("wd/#", qos=1)

        def connect_with_will(cid):
            c = Client(self.port, cid, version=V5, connect=False, session_expiry=60)
            wp = Properties(PacketTypes.WILLMESSAGE)
            wp.WillDelayInterval = 2
            c.c.will_set(f"wd/{cid}", b"dead", 1, False, properties=wp)
            c.connect()
            return c

        quick = connect_with_will("quick")
        quick.abort()
        again = self.client("quick", session_expiry=60)  # back within the delay
        slow = connect_with_will("slow")
        t0 = time.monotonic()
        slow.abort()
        m = watcher.expect(timeout=10)
        self.assertEqual((m.topic, m.payload), ("wd/slow", b"dead"))
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        # "quick" came back within its delay (`again` keeps it connected):
        # its will was cancelled; had it fired, it would have come first.
        watcher.expect_none(0.5)

    def test_subscription_identifiers_and_no_local(self):
        c = self.client("subid")
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = 42
        rc, mid = c.c.subscribe("sid/#", options=paho.SubscribeOptions(qos=1, noLocal=True),
                                properties=props)
        c.subacks.get(timeout=10)
        other = self.client("other")
        other.publish("sid/x", b"from other", qos=1)
        m = c.expect()
        self.assertEqual(m.payload, b"from other")
        self.assertEqual(m.properties.SubscriptionIdentifier, [42])
        c.publish("sid/y", b"from self", qos=1)
        c.expect_none(0.3)  # no local


if __name__ == "__main__":
    unittest.main()
