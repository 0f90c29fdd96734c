"""A simulated LLM judge, so automated labelling can be tested end to end without a real model.

Simulated answers carry their verdict invisibly: an acceptable answer's text has an even signature
(a hash parity), an unacceptable one an odd signature (`answers.py` draws text until it matches).
The judge model `sim-judge` finds the answer between `<answer>` and `</answer>` in its prompt, reads
the signature and replies "Score: N/10". Like a real judge it is not always right: it agrees with the
truth for `AGREEMENT` of answers (deterministically per answer). An answer cut short by max_tokens or a
stop sequence has lost its signature, and is judged as a coin flip, as a real judge would guess.
"""

from __future__ import annotations

import hashlib
import re

from proxy.simulator.draws import unit

JUDGE_MODEL = "sim-judge"
AGREEMENT = 0.9
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def signature(text: str) -> bool:
    """True for text the simulator wrote as an acceptable answer."""
    return hashlib.blake2b(text.strip().encode("utf-8", "surrogatepass"), digest_size=1).digest()[0] % 2 == 0


def judge_reply(prompt: str, seed: int) -> str:
    found = _ANSWER.search(prompt)
    if found is None:
        return "Score: 5/10. I could not find an <answer> to grade."
    answer = found.group(1)
    verdict = signature(answer)
    if unit("judge", seed, answer.strip()) >= AGREEMENT:
        verdict = not verdict
    return "Score: 9/10. The answer is correct and complete." if verdict else "Score: 2/10. The answer is wrong."
