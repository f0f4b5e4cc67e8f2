// cxx_header_test.cc - the public headers compile and link as C++, and
// libdesk answers a C++ caller: attaching to a desk that does not exist
// fails with -ENOENT and a message naming it.
#include <desk/client.h>
#include <desk/connector.h>
#include <desk/types.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

static_assert(sizeof(desk_cmd_t) == 64, "desk_cmd_t is one cache line");
static_assert(sizeof(desk_event_t) == 64, "desk_event_t is one cache line");
static_assert(sizeof(desk_vcmd_t) == 64 && sizeof(desk_vevent_t) == 64, "venue messages");

int main()
{
    desk_client_t *c = nullptr;
    int rc = desk_attach(&c, "no-such-desk-cxx", "s");
    if (rc != -ENOENT || c != nullptr || std::strstr(desk_client_errmsg(), "no-such-desk-cxx") == nullptr) {
        std::printf("FAIL: desk_attach returned %d (%s)\n", rc, desk_client_errmsg());
        return 1;
    }
    std::printf("ok: %s\n", desk_client_errmsg());
    return 0;
}
