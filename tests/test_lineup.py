"""The per-candidate-list cache: built once per list of profile objects, rebuilt for changed profiles."""

from dataclasses import replace

from proxy.route.lineup import LineupCache
from proxy.route.profile import LLMProfile


def test_the_same_profiles_are_built_once_and_a_changed_profile_is_rebuilt() -> None:
    built: list[tuple[LLMProfile, ...]] = []

    def build(profiles: tuple[LLMProfile, ...]) -> tuple[str, ...]:
        built.append(profiles)
        return tuple(p.name for p in profiles)

    cache = LineupCache(build)
    a, b = LLMProfile(name="a", model="m/a"), LLMProfile(name="b", model="m/b")
    assert cache([a, b]) == ("a", "b")
    assert cache((a, b)) == ("a", "b")
    assert len(built) == 1
    reloaded = replace(a, accuracy=0.9)  # a model reload makes new profile objects
    assert cache([reloaded, b]) == ("a", "b")
    assert built[-1][0] is reloaded
    assert cache([b, a]) == ("b", "a")
    assert len(built) == 3
