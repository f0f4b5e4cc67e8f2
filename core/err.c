/* err.c - thread-local error messages for cold paths; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char desk__errbuf[512]; /* W: owning thread only */

int desk__err_set(int err, const char *func, int line, const char *fmt, ...)
{
    /* Format into a local buffer first: an argument may be desk_errmsg()
     * itself (wrapping the previous message), which is this buffer. */
    char tmp[sizeof desk__errbuf];
    va_list ap;
    /* The message is for the user: no function name or line in it (a
     * debugger finds those); callers write a sentence that stands alone. */
    int n = 0;

    (void)func;
    (void)line;
    va_start(ap, fmt);
    int m = vsnprintf(tmp + n, sizeof tmp - (size_t)n, fmt, ap);
    va_end(ap);
    /* Say so when the message was cut rather than truncating silently. */
    if (m > 0 && (size_t)m >= sizeof tmp - (size_t)n)
        memcpy(tmp + sizeof tmp - 4, "...", 4);
    memcpy(desk__errbuf, tmp, sizeof tmp);
    return err;
}

const char *desk_errmsg(void)
{
    return desk__errbuf;
}

void desk_errclear(void)
{
    desk__errbuf[0] = '\0';
}
