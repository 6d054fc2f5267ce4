# swap.apply(): the stage-then-swap of `dunelog deploy`, under MicroPython. Each state a
# kill or power cut can leave is either the old firmware (no manifest) or a swap that apply
# finishes; apply is safe to repeat.
import os
import json

import swap

TMP = "/tmp"


def put(p, s):
    with open(p, "w") as f:
        f.write(s)


def get(p):
    with open(p) as f:
        return f.read()


def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def fresh(name):
    d = TMP + "/" + name
    os.mkdir(d)
    os.chdir(d)
    put("app.py", "old app")
    put("version.py", "old version")
    put("ring.py", "old ring")
    os.mkdir(".stage")
    put(".stage/app.py", "new app")
    put(".stage/version.py", "new version")
    put(".stage/ring.mpy", "new ring")
    return d


def manifest():
    put(".stage/MANIFEST", json.dumps({"version": "9", "put": ["app.py", "version.py",
                                                               "ring.mpy"],
                                       "del": ["ring.py"]}))


def test_no_manifest_keeps_the_old_firmware():
    fresh("a")
    assert swap.apply() is None
    assert get("app.py") == "old app" and get("ring.py") == "old ring"
    assert not exists("ring.mpy")


def test_complete_manifest_swaps_everything():
    fresh("b")
    manifest()
    assert swap.apply() == "9"
    assert get("app.py") == "new app" and get("version.py") == "new version"
    assert get("ring.mpy") == "new ring" and not exists("ring.py")
    assert not exists(".stage")
    assert swap.apply() is None                 # nothing left to do


def test_swap_cut_halfway_finishes_on_the_next_apply():
    fresh("c")
    manifest()
    os.remove("app.py")                         # cut between remove and rename
    os.rename(".stage/version.py", "version.py")  # and one file already moved
    assert swap.apply() == "9"
    assert get("app.py") == "new app" and get("version.py") == "new version"
    assert not exists("ring.py") and not exists(".stage")


def test_unreadable_manifest_keeps_the_old_firmware():
    fresh("d")
    put(".stage/MANIFEST", "{\"put\": [")
    assert swap.apply() is None
    assert get("app.py") == "old app" and not exists(".stage")


def test_replaced_files_are_kept_and_rollback_restores_them():
    fresh("e")
    manifest()
    assert swap.apply() == "9"
    assert sorted(os.listdir(".prev")) == [".put", "app.py", "ring.py", "version.py"]
    restored = swap.rollback()
    assert sorted(restored) == ["app.py", "ring.py", "version.py"]
    assert get("app.py") == "old app" and get("version.py") == "old version"
    assert get("ring.py") == "old ring" and not exists("ring.mpy")     # added: removed
    assert not exists(".prev")


def test_swap_cut_after_the_backup_move_keeps_the_old_file_once():
    fresh("f")
    manifest()
    os.mkdir(".prev")
    os.rename("app.py", ".prev/app.py")        # cut between the backup move and the rename
    assert swap.apply() == "9"
    assert get("app.py") == "new app" and get(".prev/app.py") == "old app"
    swap.rollback()
    assert get("app.py") == "old app" and get("ring.py") == "old ring"
    assert swap.rollback() is None             # done: nothing left to roll back


def test_apply_without_backup_deletes():
    fresh("g")
    manifest()
    assert swap.apply(backup=None) == "9"
    assert not exists(".prev") and get("app.py") == "new app"
