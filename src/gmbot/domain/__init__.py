"""Domain types and the ports services depend on; nothing here does I/O."""
