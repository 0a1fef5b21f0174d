"""Microsoft's own Service Bus SDK (azure-servicebus, pinned in requirements.txt) manages
entities on the courier stand-in: every answer must deserialize into Microsoft's models.

Run by azure-standin/tests/python_sdk.rs (which starts a stand-in), or by hand:

    COURIER_SB_CONNECTION_STRING='Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...' \
    COURIER_SB_ENDPOINT=http://127.0.0.1:PORT  python test_admin.py

``ServiceBusAdministrationClient`` always speaks https to the namespace's host
(``_management_client.py``: ``self._endpoint = "https://" + fully_qualified_namespace``;
``UseDevelopmentEmulator=true`` only switches the AMQP clients to plain TCP). So the client
keeps the namespace's name — and signs its SAS tokens for it — while a transport sends each
request to COURIER_SB_ENDPOINT instead. Without COURIER_SB_ENDPOINT the suite runs against
the namespace of the connection string itself.

The SDK's data plane is AMQP, which the REST stand-in does not speak: this suite covers
management (Atom over HTTPS) only.
"""

import datetime
import os
import sys
import unittest
import uuid
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.transport import RequestsTransport
from azure.servicebus.management import (
    CorrelationRuleFilter,
    FalseRuleFilter,
    NamespaceProperties,
    QueueProperties,
    QueueRuntimeProperties,
    RuleProperties,
    ServiceBusAdministrationClient,
    SqlRuleFilter,
    SubscriptionProperties,
    SubscriptionRuntimeProperties,
    TopicProperties,
    TopicRuntimeProperties,
    TrueRuleFilter,
)

CONNECTION_STRING = os.environ.get("COURIER_SB_CONNECTION_STRING")
ENDPOINT = os.environ.get("COURIER_SB_ENDPOINT")

# Every SDK call made, by method name (the figures the Rust driver reports).
CALLS = []


class ToEndpoint(RequestsTransport):
    """Sends each request to ENDPOINT, unchanged otherwise (path, query, headers, body)."""

    def send(self, request, **kwargs):
        target = urlsplit(ENDPOINT)
        url = urlsplit(request.url)
        request.url = urlunsplit((target.scheme, target.netloc, url.path, url.query, url.fragment))
        return super().send(request, **kwargs)


class Counted:
    """The administration client, with every call counted."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def call(*args, **kwargs):
            CALLS.append(name)
            result = method(*args, **kwargs)
            # Paged lists deserialize lazily: materialize them here.
            return list(result) if name.startswith("list_") else result

        return call


def client():
    if not CONNECTION_STRING:
        raise SystemExit("COURIER_SB_CONNECTION_STRING is not set: nothing to test against")
    kwargs = {"transport": ToEndpoint()} if ENDPOINT else {}
    return Counted(ServiceBusAdministrationClient.from_connection_string(CONNECTION_STRING, **kwargs))


def unique(prefix):
    return "{}-{}".format(prefix, uuid.uuid4().hex[:10])


class Queues(unittest.TestCase):
    def test_create_get_update_list_delete(self):
        sb = client()
        name = unique("q")
        created = sb.create_queue(
            name,
            max_delivery_count=7,
            lock_duration=datetime.timedelta(seconds=45),
            dead_lettering_on_message_expiration=True,
            default_message_time_to_live=datetime.timedelta(hours=1),
            requires_duplicate_detection=True,
            duplicate_detection_history_time_window=datetime.timedelta(minutes=2),
            auto_delete_on_idle=datetime.timedelta(hours=2),
            user_metadata="courier",
        )
        self.assertIsInstance(created, QueueProperties)
        self.assertEqual(created.name, name)
        self.assertEqual(created.max_delivery_count, 7)

        got = sb.get_queue(name)
        self.assertIsInstance(got, QueueProperties)
        self.assertEqual(got.name, name)
        self.assertEqual(got.max_delivery_count, 7)
        self.assertEqual(got.lock_duration, datetime.timedelta(seconds=45))
        self.assertTrue(got.dead_lettering_on_message_expiration)
        self.assertEqual(got.default_message_time_to_live, datetime.timedelta(hours=1))
        self.assertTrue(got.requires_duplicate_detection)
        self.assertEqual(got.duplicate_detection_history_time_window, datetime.timedelta(minutes=2))
        self.assertEqual(got.auto_delete_on_idle, datetime.timedelta(hours=2))
        self.assertEqual(got.user_metadata, "courier")
        self.assertFalse(got.requires_session)
        self.assertEqual(got.status, "Active")

        runtime = sb.get_queue_runtime_properties(name)
        self.assertIsInstance(runtime, QueueRuntimeProperties)
        self.assertEqual(runtime.total_message_count, 0)
        self.assertEqual(runtime.active_message_count, 0)
        self.assertEqual(runtime.dead_letter_message_count, 0)
        self.assertIsInstance(runtime.created_at_utc, datetime.datetime)

        got.max_delivery_count = 3
        got.lock_duration = datetime.timedelta(seconds=30)
        sb.update_queue(got)
        again = sb.get_queue(name)
        self.assertEqual(again.max_delivery_count, 3)
        self.assertEqual(again.lock_duration, datetime.timedelta(seconds=30))
        self.assertTrue(again.requires_duplicate_detection, "kept: the whole description went back")

        names = [q.name for q in sb.list_queues()]
        self.assertIn(name, names)
        self.assertIn(name, [q.name for q in sb.list_queues_runtime_properties()])

        with self.assertRaises(HttpResponseError) as exists:
            sb.create_queue(name)
        self.assertEqual(exists.exception.status_code, 409)

        sb.delete_queue(name)
        with self.assertRaises(ResourceNotFoundError):
            sb.get_queue(name)
        with self.assertRaises(HttpResponseError) as gone:
            sb.delete_queue(name)
        self.assertEqual(gone.exception.status_code, 404)

    def test_defaults_deserialize(self):
        sb = client()
        name = unique("plain")
        sb.create_queue(name)
        got = sb.get_queue(name)
        self.assertEqual(got.max_delivery_count, 10)
        self.assertEqual(got.lock_duration, datetime.timedelta(minutes=1))
        self.assertFalse(got.dead_lettering_on_message_expiration)
        self.assertEqual(got.max_size_in_megabytes, 1024)
        self.assertTrue(got.enable_batched_operations)
        self.assertEqual(got.default_message_time_to_live.days, 10675199, "TimeSpan.MaxValue")
        sb.delete_queue(name)

    def test_invalid_settings_are_refused(self):
        sb = client()
        with self.assertRaises(HttpResponseError) as too_long:
            sb.create_queue(unique("bad"), lock_duration=datetime.timedelta(minutes=6))
        self.assertEqual(too_long.exception.status_code, 400)
        self.assertIn("lock time", str(too_long.exception))


class Topics(unittest.TestCase):
    def test_create_get_update_list_delete(self):
        sb = client()
        name = unique("t")
        created = sb.create_topic(
            name,
            default_message_time_to_live=datetime.timedelta(hours=3),
            requires_duplicate_detection=True,
            duplicate_detection_history_time_window=datetime.timedelta(minutes=5),
            max_size_in_megabytes=2048,
        )
        self.assertIsInstance(created, TopicProperties)
        got = sb.get_topic(name)
        self.assertEqual(got.name, name)
        self.assertEqual(got.default_message_time_to_live, datetime.timedelta(hours=3))
        self.assertTrue(got.requires_duplicate_detection)
        self.assertEqual(got.duplicate_detection_history_time_window, datetime.timedelta(minutes=5))
        self.assertEqual(got.max_size_in_megabytes, 2048)

        sb.create_subscription(name, "one")
        runtime = sb.get_topic_runtime_properties(name)
        self.assertIsInstance(runtime, TopicRuntimeProperties)
        self.assertEqual(runtime.subscription_count, 1)

        got.default_message_time_to_live = datetime.timedelta(hours=1)
        sb.update_topic(got)
        self.assertEqual(sb.get_topic(name).default_message_time_to_live, datetime.timedelta(hours=1))

        self.assertIn(name, [t.name for t in sb.list_topics()])
        self.assertIn(name, [t.name for t in sb.list_topics_runtime_properties()])
        sb.delete_topic(name)
        with self.assertRaises(ResourceNotFoundError):
            sb.get_topic(name)
        with self.assertRaises(ResourceNotFoundError):
            sb.get_subscription(name, "one")


class Subscriptions(unittest.TestCase):
    def test_create_get_update_list_delete(self):
        sb = client()
        topic = unique("st")
        sb.create_topic(topic)
        created = sb.create_subscription(
            topic,
            "inventory",
            max_delivery_count=5,
            lock_duration=datetime.timedelta(seconds=30),
            dead_lettering_on_message_expiration=True,
            dead_lettering_on_filter_evaluation_exceptions=True,
            default_message_time_to_live=datetime.timedelta(days=1),
        )
        self.assertIsInstance(created, SubscriptionProperties)
        got = sb.get_subscription(topic, "inventory")
        self.assertEqual(got.name, "inventory")
        self.assertEqual(got.max_delivery_count, 5)
        self.assertEqual(got.lock_duration, datetime.timedelta(seconds=30))
        self.assertTrue(got.dead_lettering_on_message_expiration)
        self.assertTrue(got.dead_lettering_on_filter_evaluation_exceptions)
        self.assertEqual(got.default_message_time_to_live, datetime.timedelta(days=1))

        runtime = sb.get_subscription_runtime_properties(topic, "inventory")
        self.assertIsInstance(runtime, SubscriptionRuntimeProperties)
        self.assertEqual(runtime.total_message_count, 0)

        got.max_delivery_count = 9
        got.dead_lettering_on_message_expiration = False
        sb.update_subscription(topic, got)
        again = sb.get_subscription(topic, "inventory")
        self.assertEqual(again.max_delivery_count, 9)
        self.assertFalse(again.dead_lettering_on_message_expiration)

        sb.create_subscription(topic, "payment")
        self.assertEqual(sorted(s.name for s in sb.list_subscriptions(topic)), ["inventory", "payment"])
        self.assertEqual(len(sb.list_subscriptions_runtime_properties(topic)), 2)

        sb.delete_subscription(topic, "payment")
        with self.assertRaises(ResourceNotFoundError):
            sb.get_subscription(topic, "payment")
        sb.delete_topic(topic)


class Rules(unittest.TestCase):
    def test_create_get_update_list_delete(self):
        sb = client()
        topic = unique("rt")
        sb.create_topic(topic)
        sb.create_subscription(topic, "s")

        default = sb.get_rule(topic, "s", "$Default")
        self.assertIsInstance(default, RuleProperties)
        self.assertIsInstance(default.filter, TrueRuleFilter)

        sql = sb.create_rule(
            topic, "s", "sql",
            filter=SqlRuleFilter("color = @color AND amount > @min", parameters={"@color": "red", "@min": 10}),
        )
        self.assertIsInstance(sql, RuleProperties)
        got = sb.get_rule(topic, "s", "sql")
        self.assertIsInstance(got.filter, SqlRuleFilter)
        self.assertEqual(got.filter.sql_expression, "color = @color AND amount > @min")
        self.assertEqual(got.filter.parameters, {"@color": "red", "@min": 10})

        corr = sb.create_rule(
            topic, "s", "corr",
            filter=CorrelationRuleFilter(
                correlation_id="c-1", label="OrderCreated", properties={"region": "eu", "priority": 5, "rush": True}
            ),
        )
        self.assertIsInstance(corr.filter, CorrelationRuleFilter)
        got = sb.get_rule(topic, "s", "corr")
        self.assertIsInstance(got.filter, CorrelationRuleFilter)
        self.assertEqual(got.filter.correlation_id, "c-1")
        self.assertEqual(got.filter.label, "OrderCreated")
        self.assertEqual(got.filter.properties, {"region": "eu", "priority": 5, "rush": True})

        sb.create_rule(topic, "s", "never", filter=FalseRuleFilter())
        self.assertIsInstance(sb.get_rule(topic, "s", "never").filter, FalseRuleFilter)

        rule = sb.get_rule(topic, "s", "sql")
        rule.filter = SqlRuleFilter("color = 'blue'")
        sb.update_rule(topic, "s", rule)
        self.assertEqual(sb.get_rule(topic, "s", "sql").filter.sql_expression, "color = 'blue'")

        names = sorted(r.name for r in sb.list_rules(topic, "s"))
        self.assertEqual(names, ["$Default", "corr", "never", "sql"])

        with self.assertRaises(HttpResponseError) as bad:
            sb.create_rule(topic, "s", "broken", filter=SqlRuleFilter("color = "))
        self.assertEqual(bad.exception.status_code, 400)

        sb.delete_rule(topic, "s", "never")
        with self.assertRaises(ResourceNotFoundError):
            sb.get_rule(topic, "s", "never")
        sb.delete_topic(topic)


class Namespace(unittest.TestCase):
    def test_properties(self):
        props = client().get_namespace_properties()
        self.assertIsInstance(props, NamespaceProperties)
        self.assertEqual(props.messaging_sku, "Standard")
        self.assertTrue(props.name)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    print("SDK operations checked: {} calls, {} distinct methods ({})".format(
        len(CALLS), len(set(CALLS)), ", ".join(sorted(set(CALLS)))))
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
