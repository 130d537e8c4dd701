"""contacthub: keep the same people in sync across address books, directories and CRMs."""

__version__ = "0.1.0"
