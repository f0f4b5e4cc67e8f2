/*
 * desk_compiler.h - the only file that spells out compiler extensions.
 *
 * Everything else in desk uses these macros, so a port to another compiler
 * touches one file.  DESK_FALSE_SHARING is two cache lines because Intel's
 * adjacent-line prefetcher pulls 128-byte pairs: two fields written by two
 * different threads must sit at least that far apart.
 */
#ifndef DESK_COMPILER_H
#define DESK_COMPILER_H

#define DESK_CACHELINE 64       /* bytes in one cache line (x86-64, arm64) */
#define DESK_FALSE_SHARING 128  /* 2 lines: adjacent-line prefetch pulls pairs */

#define DESK_LIKELY(x) __builtin_expect(!!(x), 1)
#define DESK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DESK_COLD __attribute__((cold, noinline))
#define DESK_UNUSED __attribute__((unused))
#define DESK_PRINTF(f, a) __attribute__((format(printf, f, a)))

#ifdef __cplusplus
#define DESK_STATIC_ASSERT(e) static_assert(e, #e)
#else
#define DESK_STATIC_ASSERT(e) _Static_assert(e, #e)
#endif

/* A spin-wait hint: `pause` on x86 lets the sibling hyper-thread run and
 * avoids the memory-order machine clear when the awaited line changes. */
#if defined(__x86_64__) || defined(__i386__)
#define desk_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define desk_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define desk_cpu_relax() ((void)0)
#endif

#endif /* DESK_COMPILER_H */
