"""Real platform payloads with one field replaced by any JSON value (Hypothesis): the input of
the parser property tests of both platforms."""
import json

from hypothesis import strategies as st

HOSTILE_TEXTS = ["\x00", "a\x00b", "9" * 200, "x" * 5000]


def json_values(extra_texts=()):
    return st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
        | st.text(max_size=300) | st.sampled_from([*HOSTILE_TEXTS, *extra_texts]),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
        max_leaves=12,
    )


def paths(value, prefix=()):
    """Every (path, value) in a JSON document, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def replaced(document, path, value):
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


@st.composite
def mutated(draw, documents, values):
    """One of ``documents`` with one of its fields (or the whole) replaced by one of ``values``."""
    document = draw(st.sampled_from(documents))
    path = draw(st.sampled_from(list(paths(document))))
    return replaced(document, path, draw(values))


def column_max(model, name):
    return model._meta.get_field(name).max_length
