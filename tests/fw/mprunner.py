# Runs firmware unit tests under the MicroPython Unix port; pytest (conftest.py) turns
# each printed result line into a pytest item.
#   micropython tests/fw/mprunner.py FIRMWARE_DIR TEST_FILE TMPDIR
# Each test_* function runs in turn; results are printed as one JSON object a line.
import io
import json
import sys

fw_dir, path, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, fw_dir)
sys.path.insert(0, path.rsplit("/", 1)[0])
name = path.rsplit("/", 1)[-1][:-3]
mod = __import__(name)
mod.TMP = tmp
names = sorted(n for n in dir(mod) if n.startswith("test_"))
for n in names:
    rec = {"name": n, "ok": True, "tb": ""}
    try:
        getattr(mod, n)()
    except Exception as e:  # noqa: BLE001 - every failure is a result
        buf = io.StringIO()
        sys.print_exception(e, buf)
        rec["ok"] = False
        rec["tb"] = buf.getvalue()
    print("@@" + json.dumps(rec))
print("@@" + json.dumps({"done": len(names)}))
