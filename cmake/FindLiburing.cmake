# liburing ships a pkg-config file but no CMake package; wrap it as an imported target.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBURING REQUIRED IMPORTED_TARGET liburing>=2.3)
if(NOT TARGET Liburing::liburing)
  add_library(Liburing::liburing ALIAS PkgConfig::LIBURING)
endif()
set(Liburing_FOUND TRUE)
