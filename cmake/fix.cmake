# fix.cmake - the FIX 4.4 venue: its codec library and its QuickFIX test peer.
# Included from the top-level CMakeLists.txt after the other venue files.
#
#   desk_fix_codec  connectors/fix/codec.c: FIX 4.4 tag=value <-> desk structs
#                   (no I/O, no allocation; links desk_base only).
#   desk-fix-peer   tests/peers/fix_peer.cc: a FIX 4.4 acceptor built on Debian's
#                   libquickfix (libquickfix-dev), validating strictly against
#                   shared/data/fix/FIX44.xml and executing orders against the
#                   recorded LOBSTER AMZN book.  A test tool, never linked into
#                   the product.  Skipped with a warning when QuickFIX is absent.

if(EXISTS ${CMAKE_SOURCE_DIR}/connectors/fix/codec.c)
  add_library(desk_fix_codec STATIC connectors/fix/codec.c)
  target_link_libraries(desk_fix_codec PUBLIC desk_base)
  set_target_properties(desk_fix_codec PROPERTIES POSITION_INDEPENDENT_CODE ON)
  desk_warnings(desk_fix_codec)
endif()

# The peer's smoke test links only the codec (its client is built on it).
# Set here, in the parent scope of tests/, so tests/CMakeLists.txt sees it.
set(DESK_TEST_LIBS_fix_peer_test desk_fix_codec)

if(EXISTS ${CMAKE_SOURCE_DIR}/tests/peers/fix_peer.cc AND TARGET desk_fix_codec)
  # Debian ships quickfix.pc; fall back to the header and library paths.
  pkg_check_modules(DESK_QUICKFIX QUIET IMPORTED_TARGET quickfix)
  if(DESK_QUICKFIX_FOUND)
    set(DESK_QUICKFIX_LIBS PkgConfig::DESK_QUICKFIX)
  else()
    find_path(DESK_QUICKFIX_INCLUDE_DIR quickfix/Application.h)
    find_library(DESK_QUICKFIX_LIBRARY quickfix)
    if(DESK_QUICKFIX_INCLUDE_DIR AND DESK_QUICKFIX_LIBRARY)
      set(DESK_QUICKFIX_LIBS ${DESK_QUICKFIX_LIBRARY})
    endif()
  endif()
  if(DESK_QUICKFIX_LIBS)
    add_executable(desk-fix-peer tests/peers/fix_peer.cc)
    if(DESK_QUICKFIX_INCLUDE_DIR)
      target_include_directories(desk-fix-peer SYSTEM PRIVATE ${DESK_QUICKFIX_INCLUDE_DIR})
    endif()
    # QuickFIX 1.15's headers use dynamic exception specifications
    # (throw(ConfigError)), which C++17 removed: the peer is C++14.
    set_target_properties(desk-fix-peer PROPERTIES CXX_STANDARD 14
      RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
    target_link_libraries(desk-fix-peer PRIVATE ${DESK_QUICKFIX_LIBS} desk_base
      Threads::Threads ${CMAKE_DL_LIBS})
    desk_warnings(desk-fix-peer)
    # The Application overrides must repeat QuickFIX's throw(...) clauses.
    target_compile_options(desk-fix-peer PRIVATE -Wno-deprecated)
  else()
    message(WARNING "desk: desk-fix-peer not built: QuickFIX (libquickfix-dev) not found")
  endif()
endif()

# tests/CMakeLists.txt creates fix_peer_test after this file runs: once the
# top-level directory is done, give it the peer's path and a build dependency.
function(desk_fix_finish)
  if(TARGET fix_peer_test AND TARGET desk-fix-peer)
    add_dependencies(fix_peer_test desk-fix-peer)
    target_compile_definitions(fix_peer_test PRIVATE
      DESK_FIX_PEER="$<TARGET_FILE:desk-fix-peer>")
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL desk_fix_finish)

# desk_fix: the "fix" connector (connectors/fix/session.c): a FIX 4.4
# initiator session on the connector thread's io_uring loop.  desk_core's
# host.c names it (desk_connector_builtin) and it calls host.c's desk_host_*;
# the cycle is declared once desk_core exists (deferred, as for alpaca).
if(TARGET desk_fix_codec AND TARGET desk_net AND EXISTS ${CMAKE_SOURCE_DIR}/connectors/fix/session.c)
  add_library(desk_fix STATIC connectors/fix/session.c)
  target_link_libraries(desk_fix PUBLIC desk_fix_codec desk_net desk_base)
  desk_warnings(desk_fix)
endif()
function(desk_fix_link)
  if(TARGET desk_fix AND TARGET desk_core)
    target_link_libraries(desk_core PUBLIC desk_fix)
    target_link_libraries(desk_fix PUBLIC desk_core)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL desk_fix_link)
