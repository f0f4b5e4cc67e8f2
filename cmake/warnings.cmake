# Warnings for desk's own C code; -Werror when DESK_WERROR (CI turns it on).
set(DESK_C_WARNINGS
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wpointer-arith
  -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wcast-align -Wwrite-strings
  -Wformat=2 -Wvla -Wnull-dereference -Wdouble-promotion)
function(desk_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:${DESK_C_WARNINGS}>
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow>)
  if(DESK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
# Tests may relax -Wconversion noise from cmocka macros but keep the rest.
function(desk_test_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wno-unused-parameter)
  if(DESK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
