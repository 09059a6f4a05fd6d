"""Filesystems of the simulated node: the host's in-memory one and on-disk formats (ext2/3/4, swap)."""
