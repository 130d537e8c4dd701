"""The match keys the engine keeps for a new contact: those of the record it came from,
found once for matching, whenever the connector holds every field the keys are made of."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contacthub.engine.matching import KEY_FIELDS
from contacthub.model import lookup_keys, match_keys, project

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
    # words split on hyphens too, in order, the first one kept: a married name
    assert _names_close(name("Ann", "Lee"), name("Ann", "Lee-Smith"))
    assert _names_close(name("Ann", "Smith"), name("Ann", "Lee-Smith"))
    assert _names_close(name("Ann", "Lee-Smith"), name("Ann", "Lee"))
    assert not _names_close(name("Ann", "Smith-Lee"), name("Bob", "Lee"))
    assert not _names_close(name("Ann", "Lee"), name("Bob", "Lee-Smith"))
    assert not _names_close(name(family="Smith"), name("Ann", "Lee-Smith"))
    # a family name replaced outright is neither (the docstring said it was)
    assert not _names_close(name("Ann", "Lee"), name("Ann", "Smith"))


def test_one_edit_apart_takes_no_typo_and_no_name_given_or_taken_away() -> None:
    """Without an email or phone, "Mark Lee" -> "Mary Lee" at one company (a typo's worth
    of letters: a colleague) and Mark's row for the company's own, nameless, were paired."""
    from contacthub.engine.matching import _one_edit_apart

    mark = {"given_name": "Mark", "family_name": "Lee", "organization": "Acme"}
    assert _one_edit_apart(mark, {**mark, "family_name": "Lee-Smith"})
    assert _one_edit_apart(mark, {**mark, "job_title": "Foreman"})
    assert not _one_edit_apart(mark, {**mark, "given_name": "Mary"})
    assert not _one_edit_apart(mark, {"organization": "Acme"})
    assert not _one_edit_apart({"organization": "Acme"}, mark)
    assert _one_edit_apart({"organization": "Acme"}, {"organization": "Acme", "job_title": "HQ"})


def test_a_name_without_its_accents_finds_the_accented_one_and_no_other() -> None:
    """ "José Pérez" and "JOSE PEREZ" with one phone find each other, either way round; two
    names whose accents differ (Vietnamese "Lê Hùng" and "Lê Hưng", "Nguyễn Hà" and "Nguyễn
    Hạ") do not: an accent-free key is shared by both, and merged two brothers. The email key
    keeps its accents, and a kana's voicing mark is a letter of its own (ガ is not カ)."""

    def keys(given: str, family: str, email: str = "") -> list[str]:
        fields: dict[str, Any] = {"given_name": given, "family_name": family}
        fields["phones"] = [{"value": "+12025550147", "type": ""}]
        if email:
            fields["emails"] = [{"value": email, "type": ""}]
        return match_keys(fields)

    def finds(a: tuple[str, str], b: tuple[str, str]) -> bool:
        """Whether a record named ``a`` finds a contact named ``b`` (stored keys)."""
        return bool(set(lookup_keys(keys(*a))) & set(keys(*b)))

    assert keys("José", "Pérez") == [
        "phone+name:12025550147|josé pérez",
        "phone+name~:12025550147|jose perez",
    ]
    assert keys("JOSE", "PEREZ") == ["phone+name:12025550147|jose perez"]
    assert finds(("Jose", "Perez"), ("José", "Pérez")) and finds(("José", "Pérez"), ("JOSE", "PEREZ"))
    assert finds(("José", "Pérez"), ("José", "Pérez")) and finds(("Jose", "Perez"), ("Jose", "Perez"))
    assert finds(("Nguyen", "Thi"), ("Nguyễn", "Thị"))
    assert not finds(("Hùng", "Lê"), ("Hưng", "Lê")) and not finds(("Hưng", "Lê"), ("Hùng", "Lê"))
    assert not finds(("Hà", "Nguyễn"), ("Hạ", "Nguyễn"))
    assert not finds(("Ann", "Lee"), ("Anne", "Lee"))
    assert keys("Jo", "Lee", "josé@example.com")[0] == "email:josé@example.com"
    assert not finds(("ガク", ""), ("カク", ""))
