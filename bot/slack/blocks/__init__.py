"""Pure Block Kit builders: records in, dicts out, no I/O."""
