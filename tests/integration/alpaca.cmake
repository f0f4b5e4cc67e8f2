# alpaca.cmake - the alpaca connector end to end (included by
# tests/integration/CMakeLists.txt): `desk up` with an alpaca connector
# pointed at desk-alpaca-sim over TLS (a certificate made at test time), this
# test process as the strategy through libdesk, and every fault switch of the
# simulator.  Needs the simulator (cmake/alpaca.cmake) and libdesk.
if(TARGET desk-alpaca-sim AND TARGET desk_client_static AND TARGET desk_cli)
  find_package(OpenSSL REQUIRED)
  add_executable(alpaca_e2e_test alpaca_e2e_test.c)
  target_link_libraries(alpaca_e2e_test PRIVATE desk_t_harness desk_client_static desk_base
    PkgConfig::CMOCKA PkgConfig::CJSON OpenSSL::SSL OpenSSL::Crypto)
  target_compile_definitions(alpaca_e2e_test PRIVATE
    DESK_SOURCE_DIR="${CMAKE_SOURCE_DIR}" DESK_SHARED_DATA="${DESK_SHARED_DATA}"
    DESK_CLI="$<TARGET_FILE:desk_cli>" DESK_ALPACA_SIM="$<TARGET_FILE:desk-alpaca-sim>")
  desk_test_warnings(alpaca_e2e_test)
  add_dependencies(alpaca_e2e_test desk_cli desk-alpaca-sim)
  add_test(NAME alpaca_e2e_test COMMAND alpaca_e2e_test)
  set_tests_properties(alpaca_e2e_test PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL TRUE
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
