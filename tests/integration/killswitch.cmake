# killswitch.cmake - deskd's control thread end to end (included by
# tests/integration/CMakeLists.txt): a strategy whose heartbeat goes stale,
# `desk halt --cancel-all`, and the automatic HALT on the daily loss limit,
# on the paper venue, with this test process as the strategies through
# libdesk.  Skips (77) when the recorded data is not present.
if(TARGET desk_client_static AND TARGET desk_cli)
  add_executable(killswitch_test killswitch_test.c)
  target_link_libraries(killswitch_test PRIVATE desk_t_harness desk_client_static desk_base
    PkgConfig::CMOCKA PkgConfig::CJSON)
  target_compile_definitions(killswitch_test PRIVATE
    DESK_SOURCE_DIR="${CMAKE_SOURCE_DIR}" DESK_SHARED_DATA="${DESK_SHARED_DATA}"
    DESK_CLI="$<TARGET_FILE:desk_cli>")
  desk_test_warnings(killswitch_test)
  add_dependencies(killswitch_test desk_cli)
  add_test(NAME killswitch_test COMMAND killswitch_test)
  set_tests_properties(killswitch_test PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
