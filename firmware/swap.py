# Stage-then-swap firmware updates (docs/TECHNICIAN.md, "deploy").
#
# `dunelog deploy` never writes over a running file: it writes the new files into STAGE,
# checks each one by hash, and writes STAGE/MANIFEST last (as MANIFEST.tmp, then renamed).
# apply() copies staged files into place only once MANIFEST exists, and deletes MANIFEST
# only when every copy is done. Every step can be repeated, so a power cut or a killed
# deploy leaves either the old firmware (no MANIFEST yet: the staged files are ignored) or
# a swap that the next boot finishes (boot.py / main.py call apply() first).
#
# The files a swap replaces or deletes are copied into PREV first, so `dunelog deploy` can
# put the previous firmware back (rollback()) if the new one does not start logging. The
# deploy tool empties PREV before it stages a new update.
#
# Copies, never renames (docs/RELIABILITY.md, "Power cuts on the card"): a FAT rename writes
# the new directory entry before it removes the old one, so a cut between the two leaves
# two names on one cluster chain; deleting or overwriting either name later frees clusters
# the other still uses, and whatever is written next (a segment) ends up cross-linked with
# it. A copy only ever writes a file of its own, and comparing contents makes every step
# repeatable.
import os
import json

STAGE = ".stage"
PREV = ".prev"
_BUF = 512


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _read(p):
    try:
        with open(p) as f:
            return f.read()
    except (OSError, ValueError):
        return None


def _same(a, b):
    """True if files a and b both exist with the same contents."""
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            ba = bytearray(_BUF)
            bb = bytearray(_BUF)
            while True:
                na = fa.readinto(ba)
                nb = fb.readinto(bb)
                if na != nb or ba[:na] != bb[:nb]:
                    return False
                if not na:
                    return True
    except OSError:
        return False


def _copy(src, dst):
    buf = bytearray(_BUF)
    mv = memoryview(buf)
    with open(src, "rb") as fs, open(dst, "wb") as fd:
        while True:
            n = fs.readinto(buf)
            if not n:
                break
            fd.write(mv[:n])


def clear(d=STAGE, last=None):
    """Remove a flat directory (staging or backup) and its files, the file `last` last."""
    try:
        names = os.listdir(d)
    except OSError:
        return
    if last in names:
        names.remove(last)
        names.append(last)
    for n in names:
        try:
            os.remove(d + "/" + n)
        except OSError:
            pass
    try:
        os.rmdir(d)
    except OSError:
        pass


def apply(stage=STAGE, backup=PREV):
    """Finish a staged update if its manifest is complete. Returns the staged version
    (or "" if the manifest names none) when a swap was done, None when there was none.
    Replaced and deleted files are copied to `backup` first (None: no copy)."""
    man = stage + "/MANIFEST"
    try:
        with open(man) as f:
            m = json.loads(f.read())
        put = m["put"]
        dele = m.get("del", ())
    except OSError:
        return None                      # nothing staged, or a deploy that never finished
    except (ValueError, KeyError, TypeError):
        clear(stage)                     # unreadable manifest: keep the running firmware
        return None
    if backup is not None:
        mark = json.dumps(put)           # backup/.put, written once every copy is done
        if _read(backup + "/.put") != mark:
            try:
                os.mkdir(backup)
            except OSError:
                pass
            for name in list(put) + list(dele):
                if _exists(name):        # (none yet replaced: that starts after the mark)
                    _copy(name, backup + "/" + name)
            with open(backup + "/.put", "w") as f:
                f.write(mark)
    for name in put:
        src = stage + "/" + name
        if _exists(src) and not _same(src, name):
            _copy(src, name)             # a cut halfway: the next apply copies it again
    for name in dele:
        if _exists(name):
            os.remove(name)
    # the manifest goes last (a MANIFEST.tmp twin of it goes before it, see the header)
    clear(stage, "MANIFEST")
    return m.get("version", "")


def rollback(backup=PREV):
    """Undo the last swap: files it added are deleted, the files it replaced or deleted
    come back from `backup`. Repeatable. Returns the names restored, or None if there is
    nothing to roll back to."""
    try:
        with open(backup + "/.put") as f:
            put = json.loads(f.read())
    except (OSError, ValueError):
        return None
    kept = [n for n in os.listdir(backup) if n[:1] != "."]
    for name in put:
        if name not in kept and _exists(name):
            os.remove(name)              # added by the swap: not there before
    for name in kept:
        if not _same(backup + "/" + name, name):
            _copy(backup + "/" + name, name)
    clear(backup, ".put")
    return kept
