"""Readers and writers of contact file formats (vCard, CSV columns), free of connector I/O."""
