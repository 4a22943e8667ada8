"""SMS fallback: bytes and SMS per enumerator record of 1, 4 and 8 members, and codec speed.

Synthetic families (``SyntheticRegistry.household_of``) are recorded in a real device store,
as the tablet would hold them (ids derived from the device and seq, unanswered fields left
out), then each outbox mutation is encoded (pack + encrypt + base64url) and decoded again
(parse + decrypt + unpack), checking that the decoded mutation is the one recorded.

Forms: "full" as generated (names and birth places all in the format's lists); "faker" with
every name and birth place from Faker's id_ID provider (``Faker("id_ID").name()``, ``.city()``;
bench only: without faker installed the row is skipped); "heldout" with names and places made
of the corpus words the text model never saw (bench/build_sms_name_model.py holds them out);
"unlisted" with names and places spelled backwards (not names at all: the adversarial case);
"lean" without GPS, phone, address and birth places.

    .venv/bin/python bench/bench_sms_codec.py                 # 1,000 families per size, ~1 min
    .venv/bin/python bench/bench_sms_codec.py --families 200 --sizes 4
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from app.registry.synthetic import SyntheticRegistry  # noqa: E402
from bench.build_sms_name_model import held_out, read_corpus  # noqa: E402
from sync_protocol import smscodec  # noqa: E402
from sync_protocol.client import as_mutation  # noqa: E402
from sync_protocol.store import Enrolment, Store  # noqa: E402

DEVICE_ID = "tab-bench-0001"
DEVICE_NUMBER = 42
LEAN_DROP = ("latitude", "longitude", "phone", "address")  # "lean": a form without these


def unlisted(family: dict[str, Any]) -> dict[str, Any]:
    """Names and birth places that no reference list of the format holds (letters reversed)."""
    for m in family["members"]:
        m["full_name"] = " ".join(w[::-1].title() for w in m["full_name"].split())
        m["birth_place"] = m["birth_place"][::-1].title()
    return family


Shape = Callable[[dict[str, Any]], dict[str, Any]]


def faker_shape(seed: int) -> Shape | None:
    """Names and birth places from Faker id_ID; None when faker is not installed."""
    try:
        faker = importlib.import_module("faker")
    except ImportError:
        return None
    fake = faker.Faker("id_ID")
    fake.seed_instance(seed)

    def faker_names(family: dict[str, Any]) -> dict[str, Any]:
        for m in family["members"]:
            m["full_name"], m["birth_place"] = fake.name(), fake.city()
        return family

    return faker_names


def heldout_shape(seed: int) -> Shape:
    """Given name + family name, and a place, all from words the text model never saw."""
    corpus = read_corpus()
    rng = random.Random(seed)

    def pick(*sections: str) -> list[str]:
        return [e for s in sections for e in corpus[s] if all(held_out(w) for w in e.split())]

    given, family_names, places = pick("first_male", "first_female"), pick("family"), pick("place")

    def heldout(family: dict[str, Any]) -> dict[str, Any]:
        for m in family["members"]:
            m["full_name"] = f"{rng.choice(given)} {rng.choice(family_names)}"
            m["birth_place"] = rng.choice(places)
        return family

    return heldout


def lean(family: dict[str, Any]) -> dict[str, Any]:
    family = {k: v for k, v in family.items() if k not in LEAN_DROP}
    family["members"] = [{k: v for k, v in m.items() if k != "birth_place"} for m in family["members"]]
    return family


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def measure(size: int, families: int, seed: int, shape: Shape, key: bytes, folder: Path) -> dict[str, Any]:
    store = Store(folder / f"device-{size}-{shape.__name__}.db")
    store.save_enrolment(Enrolment(server_url="https://sigap.test", device_id=DEVICE_ID, device_token="t",  # noqa: S106
                                   username="enum", scope=[], limits={}, sms_number=DEVICE_NUMBER,
                                   sms_key=smscodec.key_text(key)))
    registry = SyntheticRegistry(seed=seed + size)
    for _ in range(families):
        family = shape(registry.household_of(size))
        family.pop("id", None)
        for member in family["members"]:
            member.pop("id", None)
        store.create_household(family, recorded_at="2026-11-20T09:14:05+09:00")
    payloads: list[int] = []
    frames: list[int] = []
    sms: Counter[int] = Counter()
    encode_us: list[float] = []
    decode_us: list[float] = []
    for pending in store.pending(limit=families):
        mutation = as_mutation(pending)
        started = time.perf_counter()
        payload = smscodec.pack(mutation, DEVICE_ID)
        texts = smscodec.seal(payload, key=key, device_number=DEVICE_NUMBER, seq=mutation.seq)
        encode_us.append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        chunks = [smscodec.open_part(smscodec.parse_frame(t), key) for t in texts]
        decoded = smscodec.unpack(b"".join(chunks), DEVICE_ID, mutation.seq)
        decode_us.append((time.perf_counter() - started) * 1e6)
        if decoded.model_dump(mode="json") != mutation.model_dump(mode="json"):
            raise SystemExit(f"seq {mutation.seq}: decoded mutation differs from the recorded one")
        assert all(len(t) <= 160 for t in texts)
        payloads.append(len(payload))
        frames.append(sum(len(smscodec.parse_frame(t).sealed) for t in texts))
        sms[len(texts)] += 1
    store.close()
    return {"payload": payloads, "frames": frames, "sms": sms, "encode": encode_us, "decode": decode_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=1000, help="families per size (default 1000)")
    parser.add_argument("--sizes", default="1,4,8", help="member counts (default 1,4,8)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    key = smscodec.new_key()
    one = smscodec._room(smscodec.header_text(DEVICE_NUMBER, 1000, None))
    print(f"SMS fallback format K2: one SMS = 160 GSM-7 characters = 'K2 ' + header (3-5 characters) + "
          f"base-75 sealed bytes (payload + tag {smscodec.TAG_BYTES}): {one} payload bytes for device "
          f"{DEVICE_NUMBER}, seq 1000; {args.families} families per size")
    print(f"{'form':8} {'members':>7} {'payload bytes: median':>22} {'p95':>5} {'max':>5} "
          f"{'sealed bytes median':>19} {'SMS per record':>24} {'encode us':>10} {'decode us':>10}")
    fake = faker_shape(args.seed)
    if fake is None:
        print("faker is not installed: the 'faker' row is skipped (.venv/bin/pip install faker)")
    shapes = [full, *([fake] if fake else []), heldout_shape(args.seed), unlisted, lean]
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            for size in (int(s) for s in args.sizes.split(",")):
                r = measure(size, args.families, args.seed, shape, key, Path(tmp))
                counts = ", ".join(f"{n} SMS: {100 * c / args.families:.0f}%"
                                   for n, c in sorted(r["sms"].items()))
                form = shape.__name__.removesuffix("_names")
                print(f"{form:8} {size:>7} {statistics.median(r['payload']):>22.0f} "
                      f"{pct(r['payload'], 0.95):>5.0f} {max(r['payload']):>5} "
                      f"{statistics.median(r['frames']):>19.0f} {counts:>24} "
                      f"{statistics.median(r['encode']):>10.0f} {statistics.median(r['decode']):>10.0f}")
    print("full: synthetic families as generated; faker: names and birth places from Faker id_ID; "
          "heldout: made of words the text model never saw; unlisted: spelled backwards; lean: without GPS, "
          "phone, address and birth places")


def full(family: dict[str, Any]) -> dict[str, Any]:
    return family


if __name__ == "__main__":
    main()
