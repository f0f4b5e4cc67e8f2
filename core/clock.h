/*
 * clock.h - timestamps for latency stages, without a system call.
 *
 * desk_now_ns() reads CLOCK_MONOTONIC through the vDSO: on a kernel whose
 * clocksource is tsc (or kvm-clock) that is a few tens of nanoseconds and no
 * syscall.  The hot-path tests run it under seccomp strict mode, which kills
 * the process on any syscall, so a machine whose clocksource forces a real
 * syscall is detected rather than assumed away.  Monotonic time is shared by
 * every process on the host, so a strategy's submit stamp and deskd's stamps
 * can be subtracted.
 */
#ifndef DESK_CLOCK_H
#define DESK_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds.  Any thread, any process. */
static inline uint64_t desk_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME in nanoseconds since the Unix epoch (for wall-clock fields). */
static inline uint64_t desk_wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* DESK_CLOCK_H */
