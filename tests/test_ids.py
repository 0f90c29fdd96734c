"""Request ids: ULID layout in Crockford base32, sortable by time, never repeated."""

from __future__ import annotations

import random

from proxy import ids

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _reference(ms: int, randomness: int) -> str:
    """The ULID spec's encoding, digit by digit."""
    value, out = (ms << 80) | randomness, []
    for _ in range(26):
        out.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def test_encoding_matches_the_ulid_layout() -> None:
    rng = random.Random(7)
    for ms, randomness in [
        (0, 0),
        (2**48 - 1, 2**80 - 1),
        *((rng.randrange(2**48), rng.randrange(2**80)) for _ in range(200)),
    ]:
        ids._random.reset()
        ids._random._pool = randomness.to_bytes(10, "big")
        assert ids.new_id(ms) == _reference(ms, randomness)
    ids._random.reset()


def test_ids_are_unique_and_sort_by_time() -> None:
    made = [ids.new_id(1_700_000_000_000 + i // 10) for i in range(3000)]
    assert len(set(made)) == len(made)
    assert all(len(i) == 26 and set(i) <= set(CROCKFORD) for i in made)
    assert [i[:10] for i in made] == sorted(i[:10] for i in made)
