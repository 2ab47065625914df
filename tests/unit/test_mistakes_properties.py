"""Hostile shapes for the checks run before any host: property tests."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from provision.core.errors import UsageError
from provision.orchestrate.hostnames import NUMBERED, grouped, ranges
from provision.orchestrate.rollout import resumed

NAMES = st.lists(st.from_regex(r"[a-z]{1,3}[0-9]{0,3}(\.[a-z]{1,3})?", fullmatch=True), max_size=60)


def expand(said: str) -> list[str]:
    """The names a ``ranges`` text stands for (without its "and N more")."""
    names: list[str] = []
    for part in said.split(" and ")[0].split(", ") if said else ():
        first, _, last = part.partition("–")
        if not last:
            names.append(first)
            continue
        a, b = NUMBERED.match(first), NUMBERED.match(last)
        width = len(a[2]) if a[2].startswith("0") else 0
        names += [f"{a[1]}{n:0{width}d}{a[3]}" for n in range(int(a[2]), int(b[2]) + 1)]
    return names


@given(NAMES)
def test_ranges_stand_for_exactly_the_names_given(names):
    unique = list(dict.fromkeys(names))
    said = ranges(unique, shown=len(unique) + 1)
    assert expand(said) == unique if unique else said == ""


@given(NAMES)
def test_ranges_say_how_many_they_leave_out(names):
    unique = list(dict.fromkeys(names))
    said = ranges(unique, shown=2)
    more = re.search(r" and (\d+) more hosts?$", said)
    assert len(expand(said)) + (int(more[1]) if more else 0) == len(unique)


@given(st.lists(st.tuples(st.sampled_from(["web1", "web2", "db1"]), st.sampled_from("abc"))))
def test_grouped_says_each_problem_once(pairs):
    lines = grouped(pairs)
    assert sorted(line.rsplit(": ", 1)[1] for line in lines) == sorted({p for _, p in pairs})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
ROLLOUTS = st.fixed_dictionaries(
    {"rollout": st.one_of(JSON, st.fixed_dictionaries({"batch": JSON})), "hosts": JSON}
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON, ROLLOUTS) | st.binary(max_size=20))
def test_a_resume_file_of_any_shape_is_read_or_refused_in_one_sentence(value):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rollout.json"
        path.write_bytes(value if isinstance(value, bytes) else json.dumps(value).encode())
        try:
            done, batch = resumed(str(path))
        except UsageError as error:
            assert str(error).startswith(f"--resume {path} ") and "\n" not in str(error)
        else:
            assert isinstance(batch, str) and batch and all(isinstance(n, str) for n in done)
