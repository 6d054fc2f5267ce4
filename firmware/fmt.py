# On-card format constants (docs/FORMAT.md is normative; this file mirrors it).
from micropython import const

VERSION = const(1)
SEG_MAGIC = b"DLGS"
BLK_MAGIC = b"DLGB"
HDR_LEN = const(32)          # block header
REC_HDR = const(8)           # type, len, aux[2], dt_us

# record types
T_CAN = const(0x01)
T_CANFD = const(0x02)
T_GNSS = const(0x10)
T_SYNC = const(0x11)
T_EVENT = const(0x20)
T_STATUS = const(0x21)
T_OVERFLOW = const(0x22)
T_SESSION = const(0x30)

# CAN record flags
F_EXT = const(0x01)
F_RTR = const(0x02)
F_ERR = const(0x04)
F_BRS = const(0x08)
F_ESI = const(0x10)
F_TX = const(0x20)

# block flags
B_FLUSH = const(0x01)
B_LAST = const(0x02)

# event kinds
EV_BUTTON = const(1)
EV_MARK = const(2)
EV_ERROR = const(3)
EV_CONFIG = const(4)
EV_INFO = const(5)

# sync sources
SYNC_NMEA = const(1)
SYNC_UBX = const(2)
SYNC_PPS = const(3)
SYNC_HOST = const(4)
SYNC_RTC = const(5)

# "unknown" sentinels
U16_NA = const(0xFFFF)
U32_NA = 0xFFFFFFFF          # not const(): above the board's small-int range


def seg_name(boot, seg):
    return "B%05d_S%04d.dlg" % (boot, seg)
