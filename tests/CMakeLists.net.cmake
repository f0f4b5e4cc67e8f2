# Unit tests of the network layer core (connectors/net/): each links only
# desk_net.  Included from tests/CMakeLists.txt before the test loop.
set(DESK_TEST_LIBS_loop_test desk_net)
set(DESK_TEST_LIBS_tls_test desk_net)
set(DESK_TEST_LIBS_conn_test desk_net)
set(DESK_TEST_LIBS_health_test desk_net)
