"""Adapters: each owns one library or kind of I/O and translates it at its edge."""
