"""Change notification receivers (``router``) and the identity of each receiver (``tokens``)."""
