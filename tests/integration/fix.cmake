# fix.cmake - the fix connector end to end (included by
# tests/integration/CMakeLists.txt): `desk up` with a `type = "fix"`
# connector against desk-fix-peer (the QuickFIX acceptor, cmake/fix.cmake)
# over loopback, plain TCP and TLS (through a relay inside the test), with
# this test process as the strategy through libdesk.  The test skips (77)
# with a reason when the peer was not built.
if(TARGET desk_fix AND TARGET desk_client_static AND TARGET desk_cli)
  find_package(OpenSSL REQUIRED)
  add_executable(fix_e2e_test fix_e2e_test.c)
  target_link_libraries(fix_e2e_test PRIVATE desk_t_harness desk_client_static desk_base
    PkgConfig::CMOCKA PkgConfig::CJSON OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
  target_compile_definitions(fix_e2e_test PRIVATE
    DESK_SOURCE_DIR="${CMAKE_SOURCE_DIR}" DESK_SHARED_DATA="${DESK_SHARED_DATA}"
    DESK_CLI="$<TARGET_FILE:desk_cli>")
  if(TARGET desk-fix-peer)
    add_dependencies(fix_e2e_test desk-fix-peer)
    target_compile_definitions(fix_e2e_test PRIVATE DESK_FIX_PEER="$<TARGET_FILE:desk-fix-peer>")
  endif()
  desk_test_warnings(fix_e2e_test)
  add_dependencies(fix_e2e_test desk_cli)
  add_test(NAME fix_e2e_test COMMAND fix_e2e_test)
  set_tests_properties(fix_e2e_test PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 480 RUN_SERIAL TRUE
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()

# crash_test: SIGKILL deskd mid-stream, restart it on the same journal and FIX
# store, and check its journal against the peer's event log.
if(TARGET desk_fix AND TARGET desk_client_static AND TARGET desk_cli AND TARGET desk_core)
  add_executable(crash_test crash_test.c)
  target_link_libraries(crash_test PRIVATE desk_t_harness desk_client_static desk_core desk_base
    PkgConfig::CMOCKA Threads::Threads)
  target_compile_definitions(crash_test PRIVATE DESK_CLI="$<TARGET_FILE:desk_cli>")
  if(TARGET desk-fix-peer)
    add_dependencies(crash_test desk-fix-peer)
    target_compile_definitions(crash_test PRIVATE DESK_FIX_PEER="$<TARGET_FILE:desk-fix-peer>")
  endif()
  desk_test_warnings(crash_test)
  add_dependencies(crash_test desk_cli)
  add_test(NAME crash_test COMMAND crash_test)
  set_tests_properties(crash_test PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL TRUE
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
