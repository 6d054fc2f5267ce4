"""Archives that are not on a local disk: fsspec URLs (``s3://bucket/rally``, ``gs://``,
``file://``, ...) as the input of a dataset decode.

The planner lists and probes the segment files through fsspec (a file's first bytes say
who logged it); each task copies its one file to a local temporary file, decodes it as a
local file and removes the copy, so a worker needs the URL's credentials and space for one
segment file, not the archive.  The dataset itself is written to a path (shared storage
when the workers are on other machines).  fsspec comes with Dask; a protocol may need its
package (``s3fs``, ``gcsfs``, ...).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Iterator

from ..card.dump import PROBE_BYTES, Dump, Segment, order_segments

__all__ = ["is_url", "open_archive", "local_copy", "stat_token"]


def is_url(path: str) -> bool:
    """Whether ``path`` is an fsspec URL (``proto://...``) rather than a local path."""
    return "://" in path and not os.path.exists(path)


def _fs(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs  # type: ignore[import-untyped]
    except ImportError:
        raise ValueError(f"{url}: reading an archive from a URL needs fsspec: pip install "
                         "'dunelog[fleet]'") from None
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise ValueError(f"{url}: {e}") from None


def open_archive(url: str, logger_id: int | None = None) -> Dump:
    """A :class:`~dunelog.card.dump.Dump` of the ``*.dlg`` files under ``url`` (probed,
    ordered; read through :func:`local_copy`).  Segment paths are full URLs."""
    fs, root = _fs(url)
    proto = url.split("://", 1)[0]
    if fs.isfile(root):
        paths = [root]
    else:
        paths = sorted(p for p in fs.find(root) if p.lower().endswith(".dlg"))
    if not paths:
        raise ValueError(f"no dunelog segment files (*.dlg) found in {url}")
    segs = []
    for p in paths:
        full = f"{proto}://{p}" if "://" not in p else p
        size = int(fs.info(p).get("size") or 0)
        head = fs.cat_file(p, start=0, end=min(size, PROBE_BYTES)) if size else b""
        seg = Segment.from_head(full, size, head)
        if logger_id is None or seg.logger_id == logger_id:
            segs.append(seg)
    return Dump.from_segments(url, order_segments(segs))


def stat_token(path: str) -> tuple[int, int]:
    """``(size, version)`` of a file, local or URL: what says it changed (the
    modification time in ns, or for an object store a hash of its ETag/mtime)."""
    if not is_url(path):
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    fs, p = _fs(path)
    info = fs.info(p)
    tag = info.get("ETag") or info.get("etag") or info.get("mtime") or \
        info.get("LastModified") or info.get("created") or ""
    import zlib
    return int(info.get("size") or 0), zlib.crc32(str(tag).encode())


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """``path`` itself when local, else a temporary local copy of the URL's file (removed
    afterwards)."""
    if not is_url(path):
        yield path
        return
    fs, p = _fs(path)
    fd, tmp = tempfile.mkstemp(prefix="dunelog-", suffix=".dlg")
    os.close(fd)
    try:
        fs.get_file(p, tmp)
        yield tmp
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass
