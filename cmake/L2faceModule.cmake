# l2face_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...] [TORCH]):
# one static library per compiled folder, alias l2face::NAME, public headers in include/.
# TORCH marks a module whose sources include torch; it gets the shared precompiled header.
# A module with internal headers (internal/l2face/NAME/internal/*.h: what its own tests and
# benchmarks may use beyond the public API) also gets l2face::NAME_internal, an interface target
# that adds them; nothing else links it, and nobody adds a module's src/ to an include path.
function(l2face_module name)
  cmake_parse_arguments(M "TORCH" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(l2face_${name} STATIC ${M_SOURCES})
  add_library(l2face::${name} ALIAS l2face_${name})
  target_include_directories(l2face_${name}
    PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(l2face_${name} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/internal)
    target_include_directories(l2face_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/internal)
    add_library(l2face_${name}_internal INTERFACE)
    add_library(l2face::${name}_internal ALIAS l2face_${name}_internal)
    target_include_directories(l2face_${name}_internal INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/internal)
    target_link_libraries(l2face_${name}_internal INTERFACE l2face_${name})
  endif()
  target_compile_options(l2face_${name} PRIVATE -Wall -Wextra)
  set_target_properties(l2face_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  if(M_TORCH)
    l2face_use_torch(l2face_${name})
  endif()
endfunction()

# Gives a target torch and the shared precompiled torch header (built once, reused).
function(l2face_use_torch target)
  target_link_libraries(${target} PRIVATE ${TORCH_LIBRARIES})
  get_target_property(_type ${target} TYPE)
  # Executables compile with -fPIE, which cannot reuse the -fPIC header; their single torch
  # source gains nothing from a precompiled header of its own, so they parse torch directly.
  if(L2FACE_USE_PCH AND NOT _type STREQUAL "EXECUTABLE")
    if(NOT TARGET l2face_torch_pch)
      # Written only when its content changes, so that a reconfigure rebuilds nothing.
      file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/torch_pch.cpp
           CONTENT "// precompiled torch header carrier\n")
      add_library(l2face_torch_pch OBJECT ${CMAKE_BINARY_DIR}/torch_pch.cpp)
      target_link_libraries(l2face_torch_pch PRIVATE ${TORCH_LIBRARIES})
      set_target_properties(l2face_torch_pch PROPERTIES POSITION_INDEPENDENT_CODE ON)
      target_precompile_headers(l2face_torch_pch PRIVATE <torch/torch.h>)
    endif()
    target_precompile_headers(${target} REUSE_FROM l2face_torch_pch)
  endif()
endfunction()
