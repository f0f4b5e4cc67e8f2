# desk_net: the connectors' network layer core (connectors/net/): io_uring
# event loop, TLS on memory BIOs, client connections, health (breaker and
# rate limiter).  Included from the top-level CMakeLists.txt.
find_package(OpenSSL REQUIRED)
add_library(desk_net STATIC
  connectors/net/loop.c connectors/net/tls.c connectors/net/conn.c connectors/net/health.c)
target_link_libraries(desk_net PUBLIC desk_base PkgConfig::URING OpenSSL::SSL OpenSSL::Crypto)
desk_warnings(desk_net)
