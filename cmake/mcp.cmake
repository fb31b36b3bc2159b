# mcp_library(NAME DEPS ...): a static library from every *.cc in the current folder except
# *_test.cc, *_bench.cc and main.cc (sources are globbed so parallel work never edits this file).
function(mcp_library name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "(_test|_bench|/main)\\.cc$")
  if(srcs)
    add_library(${name} STATIC ${srcs})
    target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  else()  # nothing written yet: a header-only placeholder keeps the tree configurable
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# mcp_test(NAME SOURCES ... LIBS ... [LABELS ...] [TIMEOUT s]): a GoogleTest binary under ctest.
function(mcp_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gmock GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}"
    ENVIRONMENT "MCP_BUILD_DIR=${CMAKE_BINARY_DIR};MCP_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()
