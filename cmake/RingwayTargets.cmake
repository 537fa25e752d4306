# One static library per layer (src/<layer>/*.cc). Dependencies point down only:
# app -> gateway -> {ws, http} -> timer/io primitives. A layer with no sources yet is skipped.
set(RINGWAY_LAYERS common config timer http ws auth io tls bus gateway client)
set(ringway_deps_config tomlplusplus::tomlplusplus)
set(ringway_deps_timer "")
set(ringway_deps_http BoringSSL::crypto)
set(ringway_deps_ws wslay simdjson::simdjson ZLIB::ZLIB)
set(ringway_deps_auth ringway_common BoringSSL::crypto Threads::Threads)
set(ringway_deps_io ringway_common ringway_timer Liburing::liburing Threads::Threads)
set(ringway_deps_tls ringway_common ringway_io BoringSSL::ssl)
set(ringway_deps_bus ringway_common ringway_io ringway_auth BoringSSL::crypto hiredis simdjson::simdjson Threads::Threads)
set(ringway_deps_gateway ringway_bus ringway_tls ringway_config ringway_common ringway_io ringway_http ringway_ws ringway_auth ringway_timer simdjson::simdjson)
set(ringway_deps_client ringway_auth ringway_tls ringway_gateway ringway_ws ringway_http ringway_common simdjson::simdjson BoringSSL::crypto)

foreach(layer IN LISTS RINGWAY_LAYERS)
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${layer}/*.cc)
  if(NOT srcs)
    continue()
  endif()
  add_library(ringway_${layer} STATIC ${srcs})
  target_include_directories(ringway_${layer}
    PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  set(deps "")
  foreach(d IN LISTS ringway_deps_${layer})
    if(TARGET ${d} OR NOT d MATCHES "^ringway_")
      list(APPEND deps ${d})
    endif()
  endforeach()
  target_link_libraries(ringway_${layer} PUBLIC ${deps})
endforeach()

# The browser files (web/) as a generated source of the gateway layer, rebuilt when they change.
if(TARGET ringway_gateway)
  file(GLOB web_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/web/*)
  set(web_cc ${PROJECT_BINARY_DIR}/generated/web_assets_data.cc)
  add_custom_command(OUTPUT ${web_cc}
    COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${PROJECT_SOURCE_DIR}/web -DOUT=${web_cc}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedWeb.cmake
    DEPENDS ${web_files} ${PROJECT_SOURCE_DIR}/cmake/EmbedWeb.cmake
    COMMENT "Embedding web/")
  target_sources(ringway_gateway PRIVATE ${web_cc})
endif()
