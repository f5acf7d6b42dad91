"""Length-prefixed pickle frames over a pipe: the wire of the worker protocol.

A frame is a 4-byte big-endian length followed by that many bytes of pickle
(highest protocol). Both ends read and write raw file descriptors with
`os.read` / `os.write`, so nothing buffers a frame half-way; the reader keeps
what it has read past one frame for the next one.

The length prefix keeps the stream in step even when a frame's pickle cannot
be loaded: the frame is consumed whole and `UndecodableFrame` is raised, so
the caller can answer an error and carry on.
"""

from __future__ import annotations

import os
import pickle
import selectors
import struct
import time
from typing import Any

HEADER = struct.Struct(">I")
# Far above any sane message; a larger length means the stream is corrupt.
MAX_FRAME = 1 << 30
_CHUNK = 1 << 16


class ProtocolError(Exception):
    """The stream is corrupt (a length no frame can have); stop using it."""


class UndecodableFrame(Exception):
    """One whole frame was read but its pickle could not be loaded.

    The stream is still in step; `__cause__` holds the loading error.
    """


def encode(obj: Any) -> bytes:
    """The frame carrying `obj` (raises whatever `pickle.dumps` raises)."""
    data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    if len(data) > MAX_FRAME:
        raise ValueError(f"a message of {len(data)} bytes is larger than {MAX_FRAME}")
    return HEADER.pack(len(data)) + data


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to a blocking file descriptor."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_frame(fd: int, obj: Any) -> None:
    """Encode `obj` and write its frame."""
    write_all(fd, encode(obj))


class FrameReader:
    """Reads frames from one file descriptor, optionally with a deadline.

    Waiting for data blocks in `select` (no polling loop); without a deadline
    it blocks in `os.read`.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self._buffer = bytearray()
        self._selector: selectors.BaseSelector | None = None

    def read(self, deadline: float | None = None) -> Any:
        """The next object. `deadline` is a `time.monotonic()` value.

        Raises EOFError when the writer closed its end, TimeoutError when the
        deadline passes first, ProtocolError on a corrupt stream and
        UndecodableFrame when a frame's pickle cannot be loaded.
        """
        while True:
            frame = self._take_frame()
            if frame is not None:
                try:
                    return pickle.loads(frame)
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    # Unpickling can raise almost anything (a missing module or
                    # class, a failing __setstate__); all mean "cannot decode".
                    raise UndecodableFrame(f"{type(exc).__name__}: {exc}") from exc
            if deadline is not None:
                self._wait_readable(deadline)
            chunk = os.read(self.fd, max(_CHUNK, self._missing()))
            if not chunk:
                raise EOFError("the other end closed the pipe")
            self._buffer += chunk

    def close(self) -> None:
        """Release the selector (the file descriptor belongs to the caller)."""
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def _missing(self) -> int:
        if len(self._buffer) < HEADER.size:
            return HEADER.size - len(self._buffer)
        (length,) = HEADER.unpack_from(self._buffer)
        return HEADER.size + length - len(self._buffer)

    def _take_frame(self) -> bytes | None:
        if len(self._buffer) < HEADER.size:
            return None
        (length,) = HEADER.unpack_from(self._buffer)
        if length > MAX_FRAME:
            raise ProtocolError(f"frame length {length} is out of range")
        end = HEADER.size + length
        if len(self._buffer) < end:
            return None
        frame = bytes(self._buffer[HEADER.size : end])
        del self._buffer[:end]
        return frame

    def _wait_readable(self, deadline: float) -> None:
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
            self._selector.register(self.fd, selectors.EVENT_READ)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._selector.select(remaining):
            raise TimeoutError("no answer before the deadline")
