"""Aggregates and deaggregates KPL records with AWS's own Python library (aws-kinesis-agg).

kstream's interoperability tests (tests/it) use it as the implementation not written here.
Run through scripts/kpl-agg, which installs the pinned library into a cached venv.

  aggregate    stdin: [{"partition_key": str, "explicit_hash_key": str|null, "data": base64}]
               stdout: the aggregated Kinesis records, in order, as
               [{"partition_key": str, "explicit_hash_key": str|null, "data": base64}]
  deaggregate  stdin: the Kinesis records of a Lambda event (the `Records` array, or the
               `kinesis` objects of it: {"partitionKey", "sequenceNumber", "data": base64, …})
               stdout: [{"partition_key", "explicit_hash_key", "sequence_number",
               "subsequence": int|null, "data": base64}], one per user record
"""

import base64
import json
import sys

from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records


def aggregate(records):
    out = []
    aggregator = RecordAggregator()

    def emit(agg):
        if agg is None or agg.get_num_user_records() == 0:
            return
        partition_key, explicit_hash_key, data = agg.get_contents()
        out.append(
            {
                "partition_key": partition_key,
                "explicit_hash_key": explicit_hash_key,
                "data": base64.b64encode(data).decode(),
            }
        )

    for record in records:
        emit(
            aggregator.add_user_record(
                record["partition_key"],
                base64.b64decode(record["data"]),
                record.get("explicit_hash_key"),
            )
        )
    emit(aggregator.clear_and_get())
    return out


def deaggregate(records):
    event_records = []
    for record in records:
        kinesis = record.get("kinesis", record)
        event_records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": kinesis["partitionKey"],
                    "sequenceNumber": kinesis["sequenceNumber"],
                    "approximateArrivalTimestamp": kinesis.get("approximateArrivalTimestamp", 0),
                    "data": kinesis["data"],
                },
                "eventSource": "aws:kinesis",
            }
        )
    out = []
    for user in deaggregate_records(event_records):
        kinesis = user["kinesis"]
        data = kinesis["data"]
        out.append(
            {
                "partition_key": kinesis["partitionKey"],
                "explicit_hash_key": kinesis.get("explicitHashKey"),
                "sequence_number": kinesis["sequenceNumber"],
                "subsequence": kinesis.get("subSequenceNumber"),
                "data": data.decode() if isinstance(data, bytes) else data,
            }
        )
    return out


def main():
    commands = {"aggregate": aggregate, "deaggregate": deaggregate}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print("usage: kpl_agg.py aggregate|deaggregate < records.json", file=sys.stderr)
        return 2
    json.dump(commands[sys.argv[1]](json.load(sys.stdin)), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
