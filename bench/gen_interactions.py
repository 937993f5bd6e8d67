#!/usr/bin/env python3
"""Write N interactions in cxm's canonical CSV format (about 100 bytes a row).

Usage: gen_interactions.py N OUT.csv [SEED]

Skewed durations, 1-4 topics, a few thousand agents, a million customers, timestamps over
a year: realistic enough for parsing and encoding costs. Deterministic for a seed.
"""
import random
import sys
from datetime import datetime, timedelta, timezone

CHANNELS = ["phone"] * 6 + ["chat"] * 2 + ["email", "messaging"]
TOPICS = [f"{c}.{t}" for c in ("billing", "tech", "account", "sales") for t in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")]


def main() -> None:
    count = int(sys.argv[1])
    out = sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    header = "interaction_id,customer_id,agent_id,channel,started_at,queue_seconds,talk_seconds,hold_seconds,after_work_seconds,handle_seconds,topics,resolved,transfers\n"
    with open(out, "w", buffering=1 << 22) as f:
        f.write(header)
        chunk = []
        for i in range(count):
            t = start + timedelta(seconds=rng.randrange(366 * 86400))
            talk = int(rng.lognormvariate(5.5, 0.6))
            hold = 0 if rng.random() < 0.6 else int(rng.expovariate(1 / 60))
            wrap = int(rng.lognormvariate(3.5, 0.5))
            topics = ";".join(rng.sample(TOPICS, rng.choice((1, 1, 1, 2, 2, 3, 4))))
            chunk.append(
                f"I-{i:09d},C-{rng.randrange(1_000_000):07d},A-{rng.randrange(3000):04d},{rng.choice(CHANNELS)},"
                f"{t:%Y-%m-%dT%H:%M:%SZ},{int(rng.expovariate(1 / 40))},{talk},{hold},{wrap},{talk + hold + wrap},"
                f"{topics},{'true' if rng.random() < 0.8 else 'false'},{0 if rng.random() < 0.9 else 1}\n"
            )
            if len(chunk) == 100_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


if __name__ == "__main__":
    main()
