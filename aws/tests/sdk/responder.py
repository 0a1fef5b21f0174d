"""A responder written with boto3 only, as a service that does not use courier would be.

It follows courier's documented SQS wire form (README, "Request-response"): a request
carries its reply address in the `ReplyTo` message attribute (a queue URL) and its
correlation id in `CorrelationId`; the reply is sent with SendMessage to that URL with
the same `CorrelationId` attribute, its body a structured CloudEvent
(https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md).
boto3 calls: receive_message, send_message, delete_message
(https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/sqs.html).

Usage: responder.py ENDPOINT QUEUE_URL. Answers one request, prints what it saw as JSON.
"""
import json
import sys
import uuid

import boto3

endpoint, queue_url = sys.argv[1], sys.argv[2]
sqs = boto3.client(
    "sqs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
for _ in range(15):
    got = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=1,
        WaitTimeSeconds=2,
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if got:
        break
else:
    sys.exit("no request arrived within 30 s")

request = got[0]
attributes = request.get("MessageAttributes", {})
reply_to = attributes["ReplyTo"]["StringValue"]
correlation_id = attributes["CorrelationId"]["StringValue"]
event_type = attributes["ce_type"]["StringValue"]
data = json.loads(request["Body"])

reply = {
    "specversion": "1.0",
    "id": str(uuid.uuid4()),
    "source": "/boto3-warehouse",
    "type": "StockReserved",
    "datacontenttype": "application/json",
    "data": {"sku": data["sku"], "reserved": True},
}
sqs.send_message(
    QueueUrl=reply_to,
    MessageBody=json.dumps(reply),
    MessageAttributes={
        "CorrelationId": {"DataType": "String", "StringValue": correlation_id}
    },
)
sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=request["ReceiptHandle"])
print(json.dumps({"reply_to": reply_to, "correlation_id": correlation_id, "type": event_type}))
