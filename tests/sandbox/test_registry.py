from sandbox import registry as reg_mod
from sandbox.registry import MultiRegistry, Registry


def test_ordered_utterances_per_kind_and_append():
    r = Registry()
    r.register("c1", ["one", "two"])
    r.register("c1", ["three"], append=True)
    assert [r.next_utterance("stt", "c1") for _ in range(4)] == ["one", "two", "three", None]
    assert r.next_utterance("s2s", "c1") == "one"  # each consumer kind has its own cursor
    r.register("c1", ["fresh"])  # replacing resets cursors
    assert r.next_utterance("stt", "c1") == "fresh"
    assert r.next_utterance("stt", "unknown") is None and r.next_utterance("stt", None) is None


def test_fallback_pairing_skips_claimed_and_stale(monkeypatch):
    r = Registry()
    r.register("old", ["a"])
    r.register("tagged", ["b"])
    assert r.claim("stt", "tagged") == "tagged"  # explicit id claims it
    r.register("new", ["c"])
    assert r.claim("s2s", None) == "new"  # freshest unclaimed
    assert r.claim("s2s", None) == "old"
    assert r.claim("s2s", None) is None
    monkeypatch.setattr(reg_mod, "FALLBACK_WINDOW_S", -1.0)
    r.register("late", ["d"])
    assert r.claim("stt", None) is None  # outside the window


def test_multi_registry_fans_out():
    a, b = Registry(), Registry()
    MultiRegistry([a, b]).register("c", ["x"])
    got_a, got_b = a.get("c"), b.get("c")
    assert got_a is not None and got_b is not None
    assert got_a.utterances == got_b.utterances == ["x"]
