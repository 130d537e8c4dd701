"""Every error contacthub raises on purpose, grouped by what to do about it.

    ContacthubError
    ├── UserError                 the person must change something; the CLI prints it, no traceback
    │   ├── ConfigError           a hub file, setting, filter or mapping is wrong (says where)
    │   └── NotFoundError         an unknown hub, connector, run or conflict
    ├── UnavailableError          a service contacthub itself needs (the queue's broker) does
    │                             not answer: try again later; the request was not taken
    └── ConnectorError            raised at a connector boundary (vendor errors are wrapped
        │                         there with ``raise ... from exc``)
        ├── FatalConnectorError   the connector cannot work at all this run (missing folder,
        │   │                     refused credentials): the run fails, nothing is written
        │   └── AnswerTooLargeError a server's answer over the bound its request set: unread
        │                         past it (a listing's is fatal, a card's an error of its record)
        ├── RetriableError        try again later (a timeout, a rate limit); nothing is lost
        └── RecordError           one record is bad or refused: it is reported with where it
            │                     is and skipped, the rest of the run goes on
            ├── StaleVersionError the record changed since it was read; it is merged on the
            │                     next pull, never overwritten
            ├── ReadOnlyRecordError the system refuses changes to this record for good (a
            │                     user synced from on-premises AD, a contact we did not create)
            ├── RejectedRecordError the system refuses the record's values as invalid (HTTP
            │   │                 400/413/422: a name over 255 characters): out of step,
            │   │                 tried and said again on every run
            │   └── PartlyWrittenError some values written, the others refused (a CSV file's
            │                     encoding): done, with the refusal said as its error
            └── RecordNotFoundError the record is gone: a write that finds so takes it for the
                │                 record's deletion there (its link goes)
                └── NotAPersonError the record is no person (a contact group card): left alone

The grouping follows Meltano's fatal / retriable / skippable split: the engine decides what
to do from the class alone, so connectors never need to know how a run is driven.
"""

from __future__ import annotations

from typing import Any


class ContacthubError(Exception):
    """Base of all errors contacthub raises on purpose."""


class UserError(ContacthubError):
    """Something a person has to fix; ``where`` says which file, field or object."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self) -> tuple[Any, ...]:  # (picklable: errors come back from workers)
        return (type(self), (self.message, self.where), self.__dict__)


class ConfigError(UserError):
    """A hub file, setting, filter or mapping is invalid."""


class NotFoundError(UserError):
    """An unknown hub, connector, run or conflict."""


class UnavailableError(ContacthubError):
    """A service of contacthub's own (the broker) cannot be reached; nothing was done, so
    the caller can try again (the CLI says so in one line, a webhook receiver answers 503)."""


class ConnectorError(ContacthubError):
    """Raised at the boundary of a connector."""

    def __init__(self, message: str, connector: str | None = None) -> None:
        self.message = message
        self.connector = connector
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.connector), self.__dict__)


class FatalConnectorError(ConnectorError):
    """The connector cannot work this run; the run fails before anything is written."""


class AnswerTooLargeError(FatalConnectorError):
    """A server's answer longer than the bound its request set (``ApiClient.request``'s
    ``limit``): the client stopped reading it there, so a hostile or broken server cannot
    make the process hold gigabytes. Fatal for a listing (nothing may be concluded from a
    part of one); a connector reading one record turns it into that record's error."""

    def __init__(self, message: str, connector: str | None = None, limit: int = 0) -> None:
        self.limit = limit
        super().__init__(message, connector)


class RetriableError(ConnectorError):
    """A temporary failure; a later run will succeed."""


class RecordError(ConnectorError):
    """One record is bad or was refused; it is skipped and reported with where it is."""

    def __init__(self, message: str, record: str, connector: str | None = None) -> None:
        self.record = record
        super().__init__(message, connector)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.record, self.connector), self.__dict__)

    def __str__(self) -> str:
        return f"{self.record}: {self.message}"


class StaleVersionError(RecordError):
    """The record changed since it was read (If-Match failed): re-read and merge, never overwrite."""


class ReadOnlyRecordError(RecordError):
    """The system will never accept a change to this record. Reported like any refusal; a
    connector that returns the record as it is (``WriteResult.fields``) with this error lets
    the engine agree on it, so the write is tried again only after the hub contact changes."""


class UndeletableRecordError(ReadOnlyRecordError):
    """The system never deletes this record, whatever the hub does (a directory user of a
    GAL). The person stays there, so the hub keeps them too: the engine restores the
    contact instead of leaving the record unlinked, whose later edits would never arrive."""


class RejectedRecordError(RecordError):
    """The system refuses the record's values as invalid (a field too long, a value it does
    not accept). The record stays out of step: the engine sends the write again, once, on
    every run and reports it each time, until it is written or the values change. Taken
    as refused for good (agreed on, said once), a job title too long kept a person's new
    phone out of Pipedrive for good, and every later run said "no changes"."""


class PartlyWrittenError(RejectedRecordError):
    """Some of the record's values were written and the system refused the others (a CSV
    file's encoding that cannot hold one of them): the write happened, and says what it
    left out. Journalled as done, with the refusal said as the record's error; taken for a
    plain refusal, the run said "failed" and counted nothing, though the record changed."""


class RecordNotFoundError(RecordError):
    """The record does not exist (any more)."""


class NotAPersonError(RecordNotFoundError):
    """The record is no person (a contact group card): it is left alone, as if it were not
    there, never synced as a person named after the group."""
