"""Device-mapper: tables, targets and the device registry (major 253)."""
