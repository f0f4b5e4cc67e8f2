/*
 * log.h - deskd's log: one line per event on stderr, UTC-stamped.
 *
 * Cold paths only (start, stop, health changes, errors): the router and
 * connector hot paths never log.  Thread-safe (one write(2) per line).
 */
#ifndef DESK_LOG_H
#define DESK_LOG_H

#include "desk_compiler.h"

/* Write "2026-11-21T05:50:28.123Z deskd: <message>\n" to stderr. */
void desk_log(const char *fmt, ...) DESK_PRINTF(1, 2);

#endif /* DESK_LOG_H */
