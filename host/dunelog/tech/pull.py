"""``dunelog pull``: the card of a board on USB into the archive, through :mod:`.ingest`."""

from __future__ import annotations

import hashlib
import os
import shutil
from typing import Callable

from .board import Board
from .ingest import IngestError, IngestReport, ingest, load_index

__all__ = ["pull"]

#: board-side: the card directory the firmware writes to, from its config
_ROOT = """
import config, app, json
lg = getattr(config, 'last_good', config.check_file)   # older firmware: one last good file
cfg = config.check_file('config.json')[0] or lg('config.last.json')[0] or config.defaults()
print(json.dumps(app.board_hal().storage_root(cfg['storage']['root'])))
"""


def _quiet(msg: str) -> None:
    pass


def pull(port: str, archive: str, *, names: dict[int, str] | None = None,
         clear_after_verify: bool = False, say: Callable[[str], None] = _quiet
         ) -> tuple[IngestReport | None, int]:
    """Copy the card of the board on ``port`` into ``archive`` over USB (logging pauses
    meanwhile, then the board restarts). Files whose sha256 the archive already holds are
    not read. Returns the ingest report (None when every file was already archived) and
    the number of segment files on the board."""
    incoming = os.path.join(archive, ".incoming")
    index = load_index(archive)
    with Board(port) as b:
        root = b.json(_ROOT)
        names_ = [n for n in b.listdir(root) if n.lower().endswith(".dlg")]
        hashes = b.hashes([f"{root}/{n}" for n in names_])
        os.makedirs(incoming, exist_ok=True)
        got = {}
        for n in names_:
            h = hashes[f"{root}/{n}"]
            if h in index and os.path.isfile(os.path.join(archive, index[h])):
                got[n] = h
                continue
            say(f"read {root}/{n}")
            data = b.read(f"{root}/{n}")
            if hashlib.sha256(data).hexdigest() != h:
                raise IngestError(f"{n}: USB read does not match the board's sha256; "
                                  f"run pull again")
            with open(os.path.join(incoming, n + ".part"), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(os.path.join(incoming, n + ".part"), os.path.join(incoming, n))
            got[n] = h
        rep = None
        if any(n.endswith(".dlg") for n in os.listdir(incoming)):
            rep = ingest(incoming, archive, names=names, clear_after_verify=True, say=say)
        if clear_after_verify:
            index = load_index(archive)
            gone = [f"{root}/{n}" for n, h in got.items()
                    if h in index and os.path.isfile(os.path.join(archive, index[h]))]
            if gone:
                b.exec("import os\nfor p in %r:\n    os.remove(p)" % (gone,))
        b.restart()
    shutil.rmtree(incoming, ignore_errors=True)
    return rep, len(got)
