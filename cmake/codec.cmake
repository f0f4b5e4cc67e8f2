# desk_codec: the HTTP/1.1 and WebSocket client codecs (connectors/net/http.c, ws.c).
# Transport-agnostic: no io_uring, no TLS; they work over bytes.
#   http-parser 2.9 (Debian libhttp-parser-dev): no pkg-config file, found by path.
#   wslay (Debian libwslay-dev): pkg-config `libwslay` when present; Debian
#     ships only a CMake export, so fall back to the header and library paths.
#   OpenSSL libcrypto: SHA-1 and base64 for Sec-WebSocket-Accept.
if(EXISTS ${CMAKE_SOURCE_DIR}/connectors/net/http.c AND EXISTS ${CMAKE_SOURCE_DIR}/connectors/net/ws.c)
  find_path(DESK_HTTP_PARSER_INCLUDE_DIR http_parser.h)
  find_library(DESK_HTTP_PARSER_LIBRARY http_parser)
  pkg_check_modules(WSLAY QUIET IMPORTED_TARGET libwslay)
  if(WSLAY_FOUND)
    set(DESK_WSLAY_LIBS PkgConfig::WSLAY)
    set(DESK_WSLAY_INCLUDE_DIR "")
  else()
    find_path(DESK_WSLAY_INCLUDE_DIR wslay/wslay.h)
    find_library(DESK_WSLAY_LIBRARY wslay)
    set(DESK_WSLAY_LIBS ${DESK_WSLAY_LIBRARY})
  endif()
  find_package(OpenSSL COMPONENTS Crypto)

  if(NOT DESK_HTTP_PARSER_INCLUDE_DIR OR NOT DESK_HTTP_PARSER_LIBRARY)
    message(WARNING "desk: desk_codec not built: http-parser (libhttp-parser-dev) not found")
  elseif(NOT WSLAY_FOUND AND (NOT DESK_WSLAY_INCLUDE_DIR OR NOT DESK_WSLAY_LIBRARY))
    message(WARNING "desk: desk_codec not built: wslay (libwslay-dev) not found")
  elseif(NOT TARGET OpenSSL::Crypto)
    message(WARNING "desk: desk_codec not built: OpenSSL libcrypto not found")
  else()
    add_library(desk_codec STATIC connectors/net/http.c connectors/net/ws.c)
    target_include_directories(desk_codec PRIVATE ${DESK_HTTP_PARSER_INCLUDE_DIR})
    if(DESK_WSLAY_INCLUDE_DIR)
      # PUBLIC: tests drive a wslay server context against the client codec.
      target_include_directories(desk_codec PUBLIC ${DESK_WSLAY_INCLUDE_DIR})
    endif()
    target_link_libraries(desk_codec
      PUBLIC desk_base ${DESK_WSLAY_LIBS}
      PRIVATE ${DESK_HTTP_PARSER_LIBRARY} OpenSSL::Crypto)
    set_target_properties(desk_codec PROPERTIES POSITION_INDEPENDENT_CODE ON)
    desk_warnings(desk_codec)
  endif()
endif()
