"""The pure core: parse -> graph -> plan -> report over frozen values; no I/O, clock or logging."""
