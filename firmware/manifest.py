# The firmware's modules per board, and which board is which: the one list `dunelog
# deploy` builds from and the one platform -> HAL table the firmware picks its HAL from
# (app.board_hal). Plain data and two small functions, no imports: MicroPython imports it
# on the board; CPython reads it with runpy.run_path("firmware/manifest.py") (or exec).
#
# Unlike micropython-lib's manifest.py (read by the freezer only), this one also ships:
# a board needs the table to start its HAL. Names are module names; a build writes each as
# <name>.mpy (mpy-cross -march=BOARDS[b]["march"]) or <name>.py (march None, and SOURCE).

# every board runs these
COMMON = (
    "boot", "main",              # start-up: the port runs them by name (SOURCE)
    "swap", "version",           # stage-then-swap updates; the version deploy stamps
    "manifest",                  # this file: app.board_hal() reads BOARDS
    "app", "config", "rxfilter", "capture", "ring", "clock", "block", "segment", "logger",
    "fmt", "gnss", "gnss_fields", "gnss_nmea", "gnss_ubx",
    "hal_common",
)

# shipped as source on every board (the port runs boot.py and main.py by file name)
SOURCE = ("boot", "main")
# deploy runs this module's source on the board to stage, swap and roll back
SWAP = "swap"
# deploy writes this module itself, with the version stamped: VERSION = "<base>+<stamp>"
STAMPED = "version"

# board -> its MicroPython port's sys.platform values, its HAL module and the HAL class in
# it, the mpy-cross -march of its build (None: source), and the board's other modules
# ("extra": esp32's MCP2515 driver for boards whose CAN controller is on SPI)
BOARDS = {
    "esp32": {"platforms": ("esp32",), "hal": "hal_esp32", "cls": "Esp32Hal",
              "march": "xtensawin", "extra": ("mcp2515",)},
    "stm32": {"platforms": ("pyboard", "stm32"), "hal": "hal_stm32", "cls": "Stm32Hal",
              "march": "armv7emsp"},
    "unix": {"platforms": ("linux", "darwin"), "hal": "hal_unix", "cls": "UnixHal",
             "march": None},
}


def modules(board):
    """The modules `board` runs: COMMON, its own HAL and its extra modules (KeyError: no
    such board)."""
    b = BOARDS[board]
    return COMMON + (b["hal"],) + b.get("extra", ())


def board_of(platform):
    """The board whose port reports this sys.platform, or None."""
    for name in BOARDS:
        if platform in BOARDS[name]["platforms"]:
            return name
    return None
