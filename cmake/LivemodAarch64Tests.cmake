# Tests of livemod's AArch64 code, cross-compiled with aarch64-linux-gnu-g++ and run under
# qemu-user: the same GoogleTest sources as on this machine, against GoogleTest built from
# Debian's sources (/usr/src/googletest; there is no arm64 libgtest to link here).
#
#   livemod_add_aarch64_test(<name> SOURCES <file>... [DEFINITIONS <NAME=value>...]
#                            [DEPENDS <file>...] [LABELS <label>...])
#   livemod_add_aarch64_library(<output .so> SOURCES <file>...)   # a fixture module
#
# Sources are livemod's own .cc files, compiled as one command per test: no livemod library is
# built for AArch64. Every header under include/ and src/ is a dependency, so changing one
# rebuilds these tests. When the cross compiler, its libraries, qemu-aarch64 or the GoogleTest
# sources are missing, each test is added as skipped with the reason (never failed); in
# sanitizer builds they are left out (they run, unsanitized, in the plain build), as they are on
# an AArch64 host, where the suite itself runs that code.

set(LIVEMOD_AARCH64_SYSROOT "/usr/aarch64-linux-gnu" CACHE PATH
    "AArch64 libraries for qemu-aarch64 -L (the cross compiler's target directory)")
set(LIVEMOD_GOOGLETEST_SOURCES "/usr/src/googletest" CACHE PATH
    "GoogleTest's sources (Debian's googletest package), built for AArch64")

set(livemod_aarch64_enabled ON)
if(LIVEMOD_SANITIZE OR CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(livemod_aarch64_enabled OFF)
endif()

set(livemod_aarch64_skip "")
if(livemod_aarch64_enabled)
  find_program(LIVEMOD_AARCH64_CXX aarch64-linux-gnu-g++)
  find_program(LIVEMOD_QEMU_AARCH64 qemu-aarch64)
  if(NOT LIVEMOD_AARCH64_CXX)
    set(livemod_aarch64_skip "no aarch64-linux-gnu-g++ (install g++-aarch64-linux-gnu)")
  elseif(NOT LIVEMOD_QEMU_AARCH64)
    set(livemod_aarch64_skip "no qemu-aarch64 (install qemu-user)")
  elseif(NOT EXISTS "${LIVEMOD_AARCH64_SYSROOT}/lib/ld-linux-aarch64.so.1")
    set(livemod_aarch64_skip "no AArch64 loader in ${LIVEMOD_AARCH64_SYSROOT}/lib")
  elseif(NOT EXISTS "${LIVEMOD_GOOGLETEST_SOURCES}/googletest/src/gtest-all.cc")
    set(livemod_aarch64_skip "no GoogleTest sources in ${LIVEMOD_GOOGLETEST_SOURCES} (install googletest)")
  endif()
endif()

set(livemod_aarch64_dir "${CMAKE_BINARY_DIR}/aarch64")

if(livemod_aarch64_enabled AND livemod_aarch64_skip STREQUAL "")
  # tl/expected.hpp and nlohmann's headers are architecture-independent: their directories go
  # after the cross compiler's own, never ahead of its C++ headers.
  set(after_dirs "")
  foreach(dependency IN ITEMS tl::expected nlohmann_json::nlohmann_json)
    get_target_property(dirs ${dependency} INTERFACE_INCLUDE_DIRECTORIES)
    list(APPEND after_dirs ${dirs})
  endforeach()
  list(REMOVE_DUPLICATES after_dirs)
  set(livemod_aarch64_after_includes "")
  foreach(dir IN LISTS after_dirs)
    list(APPEND livemod_aarch64_after_includes -idirafter "${dir}")
  endforeach()
  file(GLOB_RECURSE livemod_aarch64_headers CONFIGURE_DEPENDS
       "${PROJECT_SOURCE_DIR}/include/*.h" "${PROJECT_SOURCE_DIR}/include/*.hpp"
       "${PROJECT_SOURCE_DIR}/src/*.h" "${PROJECT_SOURCE_DIR}/tests/testing/*.h")

  # GoogleTest and GoogleMock, one object each, built once for every AArch64 test.
  set(gtest_root "${LIVEMOD_GOOGLETEST_SOURCES}")
  set(livemod_aarch64_gtest_includes
      -I "${gtest_root}/googletest/include" -I "${gtest_root}/googlemock/include")
  set(livemod_aarch64_gtest_objects "")
  foreach(part IN ITEMS googletest/src/gtest-all.cc googlemock/src/gmock-all.cc
                        googlemock/src/gmock_main.cc)
    get_filename_component(stem "${part}" NAME_WE)
    set(object "${livemod_aarch64_dir}/googletest/${stem}.o")
    add_custom_command(OUTPUT "${object}"
      COMMAND "${LIVEMOD_AARCH64_CXX}" -std=c++20 -O1 -pthread
              -I "${gtest_root}/googletest" -I "${gtest_root}/googlemock"
              ${livemod_aarch64_gtest_includes} -c "${gtest_root}/${part}" -o "${object}"
      DEPENDS "${gtest_root}/${part}"
      COMMENT "Cross-compiling GoogleTest for AArch64 (${stem})"
      VERBATIM)
    list(APPEND livemod_aarch64_gtest_objects "${object}")
  endforeach()
  # A target, as the tests are in other directories (a file made by a custom command is a
  # dependency only in its own directory).
  add_custom_target(livemod_aarch64_googletest DEPENDS ${livemod_aarch64_gtest_objects})
endif()

function(livemod_add_aarch64_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEFINITIONS;DEPENDS;LABELS")
  if(NOT livemod_aarch64_enabled)
    return()
  endif()
  set(properties TIMEOUT 300)
  if(arg_LABELS)
    list(APPEND properties LABELS "${arg_LABELS}")
  endif()
  if(NOT livemod_aarch64_skip STREQUAL "")
    add_test(NAME ${name} COMMAND sh -c "echo \"skipped: ${livemod_aarch64_skip}\"; exit 77")
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 ${properties})
    return()
  endif()
  set(out "${livemod_aarch64_dir}/${name}")
  set(definitions "")
  foreach(d IN LISTS arg_DEFINITIONS)
    list(APPEND definitions "-D${d}")
  endforeach()
  add_custom_command(OUTPUT "${out}"
    COMMAND "${LIVEMOD_AARCH64_CXX}" -std=c++20 -O2 ${livemod_warnings} -pthread
            -I "${PROJECT_SOURCE_DIR}/src" -I "${PROJECT_SOURCE_DIR}/include"
            -I "${PROJECT_SOURCE_DIR}/tests" ${livemod_aarch64_gtest_includes}
            ${livemod_aarch64_after_includes} ${definitions}
            -o "${out}" ${arg_SOURCES} ${livemod_aarch64_gtest_objects} -ldl
    DEPENDS ${arg_SOURCES} ${livemod_aarch64_headers} ${arg_DEPENDS}
    COMMENT "Cross-compiling ${name} for AArch64"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS "${out}")
  add_dependencies(${name} livemod_aarch64_googletest)
  add_test(NAME ${name} COMMAND "${LIVEMOD_QEMU_AARCH64}" -L "${LIVEMOD_AARCH64_SYSROOT}" "${out}")
  set_tests_properties(${name} PROPERTIES ${properties})
endfunction()

function(livemod_add_aarch64_library output)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES")
  if(NOT livemod_aarch64_enabled OR NOT livemod_aarch64_skip STREQUAL "")
    return()
  endif()
  add_custom_command(OUTPUT "${output}"
    COMMAND "${LIVEMOD_AARCH64_CXX}" -std=c++20 -O2 -fPIC -shared
            -I "${PROJECT_SOURCE_DIR}/include" -o "${output}" ${arg_SOURCES}
    DEPENDS ${arg_SOURCES} ${livemod_aarch64_headers}
    COMMENT "Cross-compiling ${output} for AArch64"
    VERBATIM)
endfunction()
