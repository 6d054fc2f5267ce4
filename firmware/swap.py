# Stage-then-swap firmware updates (docs/TECHNICIAN.md, "How deploy stays safe").
#
# `dunelog deploy` never writes over a running file: it writes the new files into STAGE,
# checks each one by hash, and writes STAGE/MANIFEST last (as MANIFEST.tmp, then renamed).
# apply() moves staged files into place only once MANIFEST exists, and deletes MANIFEST
# only when every move is done. Every step can be repeated, so a power cut or a killed
# deploy leaves either the old firmware (no MANIFEST yet: the staged files are ignored) or
# a swap that the next boot finishes (boot.py / main.py call apply() first).
import os
import json

STAGE = ".stage"
MANIFEST = STAGE + "/MANIFEST"


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def clear(stage=STAGE):
    """Remove the staging directory (flat: files only)."""
    try:
        names = os.listdir(stage)
    except OSError:
        return
    for n in names:
        try:
            os.remove(stage + "/" + n)
        except OSError:
            pass
    try:
        os.rmdir(stage)
    except OSError:
        pass


def apply(stage=STAGE):
    """Finish a staged update if its manifest is complete. Returns the staged version
    (or "" if the manifest names none) when a swap was done, None when there was none."""
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
                os.remove(name)          # FAT cannot rename over a file
            os.rename(src, name)
    for name in dele:
        if _exists(name):
            os.remove(name)
    os.remove(man)
    clear(stage)
    return m.get("version", "")
