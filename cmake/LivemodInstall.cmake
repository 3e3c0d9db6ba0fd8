# Install rules and the `livemod` CMake package: after `cmake --install`, module authors write
#   find_package(livemod CONFIG REQUIRED)
#   livemod_add_module(calc MANIFEST calc.json SOURCES calc.cc)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(livemod_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/livemod")

install(TARGETS livemod livemod_sdk EXPORT livemod-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/livemod DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT livemod-targets NAMESPACE livemod:: DESTINATION ${livemod_cmake_dir})
install(TARGETS livemod_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

configure_package_config_file(cmake/livemod-config.cmake.in
  "${PROJECT_BINARY_DIR}/livemod-config.cmake" INSTALL_DESTINATION ${livemod_cmake_dir})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/livemod-config-version.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/livemod-config.cmake"
  "${PROJECT_BINARY_DIR}/livemod-config-version.cmake"
  cmake/LivemodModule.cmake cmake/livemod_manifest.cc.in
  DESTINATION ${livemod_cmake_dir})
