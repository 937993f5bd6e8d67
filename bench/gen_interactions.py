#!/usr/bin/env python3
"""Write N interactions in cxm's canonical CSV format (about 100 bytes a row).

Usage: gen_interactions.py N OUT.csv [SEED] [--start YYYY-MM-DD] [--days D] [--id-prefix P] [--time-ordered]

Skewed durations, 1-4 topics, a few thousand agents, a million customers, timestamps over
a year from 2024-01-01 (or D days from --start): realistic enough for parsing and encoding
costs. Deterministic for a seed. Ids are I-<prefix><row>, so batches with different
prefixes never share an id. Rows are in random time order, or with --time-ordered in the
order they started (as a telephony platform exports a period).
"""
import argparse
import random
from datetime import datetime, timedelta, timezone

CHANNELS = ["phone"] * 6 + ["chat"] * 2 + ["email", "messaging"]
TOPICS = [f"{c}.{t}" for c in ("billing", "tech", "account", "sales") for t in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int)
    parser.add_argument("out")
    parser.add_argument("seed", type=int, nargs="?", default=7)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--id-prefix", default="")
    parser.add_argument("--time-ordered", action="store_true")
    args = parser.parse_args()
    count, out, prefix = args.count, args.out, args.id_prefix
    rng = random.Random(args.seed)
    start = datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc)
    span = args.days * 86400
    offsets = sorted(rng.randrange(span) for _ in range(count)) if args.time_ordered else None
    header = "interaction_id,customer_id,agent_id,channel,started_at,queue_seconds,talk_seconds,hold_seconds,after_work_seconds,handle_seconds,topics,resolved,transfers\n"
    with open(out, "w", buffering=1 << 22) as f:
        f.write(header)
        chunk = []
        for i in range(count):
            t = start + timedelta(seconds=offsets[i] if offsets else rng.randrange(span))
            talk = int(rng.lognormvariate(5.5, 0.6))
            hold = 0 if rng.random() < 0.6 else int(rng.expovariate(1 / 60))
            wrap = int(rng.lognormvariate(3.5, 0.5))
            topics = ";".join(rng.sample(TOPICS, rng.choice((1, 1, 1, 2, 2, 3, 4))))
            chunk.append(
                f"I-{prefix}{i:09d},C-{rng.randrange(1_000_000):07d},A-{rng.randrange(3000):04d},{rng.choice(CHANNELS)},"
                f"{t:%Y-%m-%dT%H:%M:%SZ},{int(rng.expovariate(1 / 40))},{talk},{hold},{wrap},{talk + hold + wrap},"
                f"{topics},{'true' if rng.random() < 0.8 else 'false'},{0 if rng.random() < 0.9 else 1}\n"
            )
            if len(chunk) == 100_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


if __name__ == "__main__":
    main()
