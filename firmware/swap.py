# Stage-then-swap firmware updates (docs/TECHNICIAN.md, "deploy").
#
# `dunelog deploy` never writes over a running file: it writes the new files into STAGE,
# checks each one by hash, and writes STAGE/MANIFEST last (as MANIFEST.tmp, then renamed).
# apply() moves staged files into place only once MANIFEST exists, and deletes MANIFEST
# only when every move is done. Every step can be repeated, so a power cut or a killed
# deploy leaves either the old firmware (no MANIFEST yet: the staged files are ignored) or
# a swap that the next boot finishes (boot.py / main.py call apply() first).
#
# The files a swap replaces or deletes are moved (renamed, not copied) into PREV, so
# `dunelog deploy` can put the previous firmware back (rollback()) if the new one does not
# start logging. The deploy tool empties PREV before it stages a new update.
import os
import json

STAGE = ".stage"
PREV = ".prev"


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def clear(d=STAGE):
    """Remove a flat directory (staging or backup) and its files."""
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        try:
            os.remove(d + "/" + n)
        except OSError:
            pass
    try:
        os.rmdir(d)
    except OSError:
        pass


def _keep(name, backup):
    # move the running file aside (once: a repeated apply finds it there already)
    if backup is None:
        os.remove(name)
        return
    try:
        os.mkdir(backup)
    except OSError:
        pass
    if _exists(backup + "/" + name):
        os.remove(name)
    else:
        os.rename(name, backup + "/" + name)


def apply(stage=STAGE, backup=PREV):
    """Finish a staged update if its manifest is complete. Returns the staged version
    (or "" if the manifest names none) when a swap was done, None when there was none.
    Replaced and deleted files go to `backup` (None: deleted)."""
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
    for name in put:
        src = stage + "/" + name
        if _exists(src):                 # not yet moved (a repeat skips moved files)
            if _exists(name):
                _keep(name, backup)      # (FAT cannot rename over a file)
            os.rename(src, name)
    for name in dele:
        if _exists(name):
            _keep(name, backup)
    if backup is not None:               # what rollback() must remove again
        try:
            os.mkdir(backup)
        except OSError:
            pass
        with open(backup + "/.put", "w") as f:
            f.write(json.dumps(put))
    os.remove(man)
    clear(stage)
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
        if _exists(name):
            os.remove(name)
        os.rename(backup + "/" + name, name)
    clear(backup)
    return kept
