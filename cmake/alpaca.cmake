# alpaca.cmake - the Alpaca venue: its codec library and its simulator.
# Included from the top-level CMakeLists.txt right after desk_paper.
#
#   desk_alpaca_codec  connectors/alpaca/codec.c: Alpaca JSON <-> desk structs
#                      (simdjson shim only; no I/O).
#   desk-alpaca-sim    tools/alpaca_sim/*.c: Alpaca's wire format over TLS on
#                      loopback, backed by the paper matching engine and the
#                      recorded market data (a test tool: it may use cJSON and
#                      http-parser, never linked into the product).

if(TARGET desk_json AND EXISTS ${CMAKE_SOURCE_DIR}/connectors/alpaca/codec.c)
  add_library(desk_alpaca_codec STATIC connectors/alpaca/codec.c)
  target_link_libraries(desk_alpaca_codec PUBLIC desk_json desk_base)
  desk_warnings(desk_alpaca_codec)
endif()

# desk_alpaca: the "alpaca" connector (connectors/alpaca/session.c): REST and
# trade_updates over TLS on the connector's io_uring loop.  desk_core's host.c
# names it (desk_connector_builtin) and it calls host.c's desk_host_*; the
# cycle is declared once desk_core exists (desk_alpaca_link, deferred below).
if(TARGET desk_alpaca_codec AND TARGET desk_net AND TARGET desk_codec
   AND EXISTS ${CMAKE_SOURCE_DIR}/connectors/alpaca/session.c)
  add_library(desk_alpaca STATIC connectors/alpaca/session.c)
  target_link_libraries(desk_alpaca PUBLIC desk_alpaca_codec desk_net desk_codec desk_json desk_base)
  desk_warnings(desk_alpaca)
endif()
function(desk_alpaca_link)
  if(TARGET desk_alpaca AND TARGET desk_core)
    target_link_libraries(desk_core PUBLIC desk_alpaca)
    target_link_libraries(desk_alpaca PUBLIC desk_core)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL desk_alpaca_link)

file(GLOB DESK_ALPACA_SIM_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tools/alpaca_sim/*.c)
if(DESK_ALPACA_SIM_SRC AND TARGET desk_paper)
  find_package(OpenSSL REQUIRED)
  pkg_check_modules(DESK_ALPACA_CJSON REQUIRED IMPORTED_TARGET libcjson)
  find_path(DESK_HTTP_PARSER_INCLUDE http_parser.h REQUIRED)
  find_library(DESK_HTTP_PARSER_LIB http_parser REQUIRED)
  add_executable(desk-alpaca-sim ${DESK_ALPACA_SIM_SRC})
  target_include_directories(desk-alpaca-sim PRIVATE ${DESK_HTTP_PARSER_INCLUDE}
    ${CMAKE_SOURCE_DIR}/tools/alpaca_sim)
  target_link_libraries(desk-alpaca-sim PRIVATE desk_paper desk_json OpenSSL::SSL OpenSSL::Crypto
    PkgConfig::DESK_ALPACA_CJSON ${DESK_HTTP_PARSER_LIB} Threads::Threads)
  # The test finds the binary at DESK_BINARY_DIR/desk-alpaca-sim.
  set_target_properties(desk-alpaca-sim PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
  desk_warnings(desk-alpaca-sim)
endif()

# tests/CMakeLists.txt creates alpaca_sim_test after this file runs: once the
# top-level directory is done, give it OpenSSL (its TLS client), the
# simulator's path, and a build dependency on the simulator.
function(desk_alpaca_finish)
  if(TARGET alpaca_sim_test)
    find_package(OpenSSL REQUIRED)
    target_link_libraries(alpaca_sim_test PRIVATE OpenSSL::SSL OpenSSL::Crypto)
    if(TARGET desk-alpaca-sim)
      add_dependencies(alpaca_sim_test desk-alpaca-sim)
      target_compile_definitions(alpaca_sim_test PRIVATE
        DESK_ALPACA_SIM="$<TARGET_FILE:desk-alpaca-sim>")
    endif()
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL desk_alpaca_finish)
