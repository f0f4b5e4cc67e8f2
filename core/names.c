/* names.c - the static names of desk's enums (types.h). */
#include "desk/types.h"

const char *desk_ord_status_name(unsigned s)
{
    static const char *const n[DESK_OS__COUNT] = {
        "PendingNew", "New",      "PartiallyFilled", "Filled",   "PendingCancel",
        "Canceled",   "PendingReplace", "Replaced",  "Rejected", "Expired"};
    return s < DESK_OS__COUNT ? n[s] : "?";
}

const char *desk_reject_name(unsigned r)
{
    static const char *const n[DESK_REJ__COUNT] = {
        "NONE",           "UNKNOWN_INSTRUMENT", "NOT_TRADABLE",     "BAD_QTY",
        "BAD_PRICE",      "LOT_SIZE",           "TICK_SIZE",        "MIN_NOTIONAL",
        "ORDER_TYPE",     "TIF",                "MAX_ORDER_QTY",    "MAX_ORDER_NOTIONAL",
        "PRICE_COLLAR",   "NO_QUOTE",           "MAX_POSITION",     "MAX_POSITION_NOTIONAL",
        "BUYING_POWER",   "VENUE_CASH",         "DAILY_LOSS",       "RATE_LIMIT",
        "DUPLICATE_CLORDID", "KILL_SWITCH",     "REDUCE_ONLY",      "CONNECTOR_DOWN",
        "UNKNOWN_ORDER",  "ORDER_NOT_OPEN",     "ORDER_TABLE_FULL", "VENUE",
        "BAD_COMMAND",    "PENDING",            "RECONCILING",      "STRATEGY_GONE"};
    return r < DESK_REJ__COUNT ? n[r] : "?";
}

const char *desk_event_type_name(unsigned t)
{
    static const char *const n[] = {"?",        "ACK",      "REJECT",  "FILL",
                                    "CANCELED", "REPLACED", "EXPIRED", "CANCEL_REJECT"};
    return t < sizeof n / sizeof n[0] ? n[t] : "?";
}

const char *desk_health_name(unsigned h)
{
    static const char *const n[] = {"DOWN", "UP", "DEGRADED"};
    return h < 3 ? n[h] : "?";
}

const char *desk_kill_name(unsigned k)
{
    static const char *const n[] = {"ACTIVE", "REDUCING", "HALTED"};
    return k < 3 ? n[k] : "?";
}
