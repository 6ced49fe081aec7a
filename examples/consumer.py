"""A minimal downstream consumer of ``wirewatch.alerts``: aiokafka, validated against the published JSON Schema.

Run from the repository root:  .venv/bin/python examples/consumer.py --group my-team
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import jsonschema
from aiokafka import AIOKafkaConsumer

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "json" / "Alert.v1.json"


async def consume(args: argparse.Namespace) -> int:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    consumer = AIOKafkaConsumer(
        args.topic, bootstrap_servers=args.bootstrap, group_id=args.group, auto_offset_reset="earliest", enable_auto_commit=True
    )
    await consumer.start()
    seen = invalid = 0
    try:
        while args.max_messages is None or seen < args.max_messages:
            batch = await consumer.getmany(timeout_ms=int(args.idle_seconds * 1000))
            if not batch:
                break  # nothing new for a while: a batch job stops here; a service would keep waiting
            for records in batch.values():
                for record in records:
                    seen += 1
                    alert = json.loads(record.value)
                    # At least once: the same alert can come twice after a restart; its id is stable, deduplicate on it.
                    errors = sorted(validator.iter_errors(alert), key=lambda e: list(e.path))
                    if errors:
                        invalid += 1
                        print(f"invalid alert at offset {record.offset}: {errors[0].message}", file=sys.stderr)
                        continue
                    print(f"{alert['id']}\t{alert['entity_name']}\t{alert['evidence']}\t{alert['url']}")
    finally:
        await consumer.stop()
    print(f"{seen} alert(s), {invalid} invalid", file=sys.stderr)
    return 1 if invalid else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="wirewatch.alerts")
    parser.add_argument("--group", default="example-alerts-consumer")
    parser.add_argument("--max-messages", type=int, default=None, help="Stop after this many alerts.")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="Stop when nothing arrives for this long.")
    sys.exit(asyncio.run(consume(parser.parse_args())))


if __name__ == "__main__":
    main()
