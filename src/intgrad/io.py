"""Atomic file writes, public: a reader sees either the old file or the complete new one.

Every writer goes through :func:`atomic_writer`: the content is written to a temporary file in
the target's own directory, fsynced, and only then moved over the target with
:func:`os.replace`; on any failure the temporary file is removed and the target is untouched.
The CLI, the web app and the dataset jobs write every file through these functions. The
implementation lives in ``intgrad._io``; this module is its public face.
"""

from intgrad._io import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_png,
    atomic_write_text,
    atomic_writer,
    json_first,
)

__all__ = [
    "atomic_save_npy",
    "atomic_write_bytes",
    "atomic_write_png",
    "atomic_write_text",
    "atomic_writer",
    "json_first",
]
