"""The match keys the engine keeps for a new contact: those of the record it came from,
found once for matching, whenever the connector holds every field the keys are made of."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contacthub.engine.matching import KEY_FIELDS
from contacthub.model import match_keys, project

texts = st.text(alphabet="AbcÉé 1+-.@", max_size=12)
elements = st.lists(
    st.fixed_dictionaries({"value": texts, "type": st.sampled_from(["", "work"])}), max_size=3
)
contacts = st.fixed_dictionaries(
    {},
    optional={
        "emails": elements,
        "phones": elements,
        "given_name": texts,
        "family_name": texts,
        "display_name": texts,
        "organization": texts,
        "notes": texts,
        "custom.trade": texts,
    },
)


@given(contacts)
def test_the_keys_come_from_the_key_fields_alone(fields: dict[str, Any]) -> None:
    assert match_keys(project(fields, KEY_FIELDS)) == match_keys(fields)
    assert match_keys(project(fields, KEY_FIELDS | {"organization"})) == match_keys(fields)
