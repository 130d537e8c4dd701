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


def test_a_name_that_only_adds_words_is_close_enough_to_be_the_record_moved() -> None:
    """A family name typed into an Outlook row that had the first name alone changed the
    row's derived id: "Cher" against "Cher Bono" was too far, and the card was deleted and
    written again (its UID and unmodelled properties gone)."""
    from contacthub.engine.matching import _names_close

    def name(given: str = "", family: str = "") -> dict[str, str]:
        return {"given_name": given, "family_name": family}

    assert _names_close(name("Cher"), name("Cher", "Bono"))
    assert _names_close(name("Fay", "Lee"), name("Faye", "Lee"))
    assert not _names_close(name("Ann", "Lee"), name("Bob", "Lee"))
    assert not _names_close(name(family="Lee"), name("Ann", "Lee"))


def test_the_phone_and_name_key_leaves_accents_out_and_nothing_else() -> None:
    """ "José Pérez" and "JOSE PEREZ" with one phone are one person; the email key keeps its
    accents, and a kana's voicing mark is a letter of its own, not an accent (ガ is not カ)."""

    def keys(given: str, family: str, email: str = "") -> list[str]:
        fields: dict[str, Any] = {"given_name": given, "family_name": family}
        fields["phones"] = [{"value": "+12025550147", "type": ""}]
        if email:
            fields["emails"] = [{"value": email, "type": ""}]
        return match_keys(fields)

    assert keys("José", "Pérez") == keys("JOSE", "PEREZ") == ["phone+name:12025550147|jose perez"]
    assert keys("Nguyễn", "Thị") == keys("Nguyen", "Thi")
    assert keys("Jo", "Lee", "josé@example.com")[0] == "email:josé@example.com"
    assert keys("ガク", "") != keys("カク", "")
