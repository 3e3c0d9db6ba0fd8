# livemod_add_module(<target> MANIFEST <file.json> SOURCES <src>... [OUTPUT_NAME <name>]
#                    [LINK_LIBRARIES <lib>...] [NO_FINGERPRINT])
#
# Builds a livemod module: a shared library with hidden visibility, -fno-gnu-unique (so that
# dlclose can unmap it), and the manifest embedded in its own ELF section `.livemod.manifest`
# where livemod reads it without loading the file. The build fills in the "fingerprint" field
# from the compiler's own macros (livemod/sdk/fingerprint.h), so it states the flags the module
# was really compiled with. The manifest must be a JSON object; it is checked at configure time
# for JSON syntax, and by `livemod check` against the schema.
include_guard(GLOBAL)

set(LIVEMOD_MODULE_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(livemod_add_module target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_FINGERPRINT" "MANIFEST;OUTPUT_NAME" "SOURCES;LINK_LIBRARIES")
  if(NOT arg_MANIFEST)
    message(FATAL_ERROR "livemod_add_module(${target}): MANIFEST <file.json> is required")
  endif()
  cmake_path(ABSOLUTE_PATH arg_MANIFEST BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
  file(READ "${arg_MANIFEST}" json)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${arg_MANIFEST}")

  # Catch the mistakes a build can see: bad JSON, not an object, a fingerprint written by hand.
  string(JSON json_type ERROR_VARIABLE json_error TYPE "${json}")
  if(json_error)
    message(FATAL_ERROR "${arg_MANIFEST}: not valid JSON (${json_error}); fix the manifest")
  endif()
  if(NOT json_type STREQUAL "OBJECT")
    message(FATAL_ERROR "${arg_MANIFEST}: the manifest must be a JSON object, not ${json_type}")
  endif()
  string(JSON has_fp ERROR_VARIABLE fp_missing GET "${json}" fingerprint)
  if(NOT fp_missing AND NOT arg_NO_FINGERPRINT)
    message(FATAL_ERROR "${arg_MANIFEST}: \"fingerprint\" is filled in by the build; remove it")
  endif()
  string(JSON member_count LENGTH "${json}")

  # The JSON becomes a C string literal: escape, and open the object so the fingerprint can be
  # spliced in as its first member.
  string(STRIP "${json}" body)
  string(REGEX REPLACE "^{" "" body "${body}")
  string(REPLACE "\\" "\\\\" body "${body}")
  string(REPLACE "\"" "\\\"" body "${body}")
  string(REPLACE "\n" "\\n\"\n  \"" body "${body}")
  if(arg_NO_FINGERPRINT)
    set(LIVEMOD_MANIFEST_HEAD "\"{\"")
  elseif(member_count GREATER 0)
    set(LIVEMOD_MANIFEST_HEAD "\"{\\\"fingerprint\\\":\" LIVEMOD_BUILD_FINGERPRINT_JSON \",\"")
  else()
    set(LIVEMOD_MANIFEST_HEAD "\"{\\\"fingerprint\\\":\" LIVEMOD_BUILD_FINGERPRINT_JSON")
  endif()
  set(LIVEMOD_MANIFEST_BODY "\"${body}\"")
  set(generated "${CMAKE_CURRENT_BINARY_DIR}/${target}_livemod_manifest.cc")
  configure_file("${LIVEMOD_MODULE_CMAKE_DIR}/livemod_manifest.cc.in" "${generated}" @ONLY)

  add_library(${target} SHARED ${arg_SOURCES} "${generated}")
  target_link_libraries(${target} PRIVATE livemod::sdk ${arg_LINK_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  if(arg_OUTPUT_NAME)
    set_target_properties(${target} PROPERTIES OUTPUT_NAME "${arg_OUTPUT_NAME}")
  endif()
  # g++ marks inline and template statics STB_GNU_UNIQUE, which makes dlclose a no-op.
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  set_property(TARGET ${target} PROPERTY LIVEMOD_MANIFEST "${arg_MANIFEST}")
endfunction()
