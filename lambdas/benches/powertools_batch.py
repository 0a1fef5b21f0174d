"""The Python reference for courier's adapter benchmark: AWS Lambda Powertools'
BatchProcessor over the same SQS event, with a no-op record handler.

Usage: python powertools_batch.py EVENT.json ROUNDS  -> prints the median CPU seconds per
round (time.process_time: the machine is shared, and wall time counts other processes).
"""
import json
import statistics
import sys
import time

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response


def record_handler(record):
    # The same work courier's no-op handler gets: the decoded JSON body.
    return json.loads(record.body)


def main():
    path, rounds = sys.argv[1], int(sys.argv[2])
    raw = open(path).read()
    processor = BatchProcessor(event_type=EventType.SQS)
    times = []
    for _ in range(rounds):
        start = time.process_time()
        event = json.loads(raw)  # the runtime hands Python a parsed dict; count it, as Rust parses too
        response = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=None)
        json.dumps(response)
        times.append(time.process_time() - start)
        assert response == {"batchItemFailures": []}, response
    print(statistics.median(times))


if __name__ == "__main__":
    main()
