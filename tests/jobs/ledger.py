"""A job that appends its tag to a file, so a test counts how often each ran."""

from __future__ import annotations

import os

from joblane import job


@job
def record(path: str, tag: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{tag}\n".encode())  # one write: lines never interleave
    finally:
        os.close(fd)


def tags(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []
