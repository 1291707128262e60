# Finds l2face's dependencies. Torch comes from the torch wheel in .venv/ (scripts/bootstrap.sh).
find_package(Threads REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
# TurboJPEG by header and library, honouring CMAKE_PREFIX_PATH: Debian's libjpeg-turbo CMake
# package hard-codes /usr, so it cannot be used from packages unpacked under another prefix.
find_path(TURBOJPEG_INCLUDE_DIR turbojpeg.h REQUIRED)
find_library(TURBOJPEG_LIBRARY turbojpeg REQUIRED)
add_library(libjpeg-turbo::turbojpeg UNKNOWN IMPORTED)
set_target_properties(libjpeg-turbo::turbojpeg PROPERTIES IMPORTED_LOCATION "${TURBOJPEG_LIBRARY}"
                      INTERFACE_INCLUDE_DIRECTORIES "${TURBOJPEG_INCLUDE_DIR}")
find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(XXHASH_LIBRARY xxhash REQUIRED)
add_library(l2face_xxhash INTERFACE IMPORTED)
target_include_directories(l2face_xxhash INTERFACE ${XXHASH_INCLUDE_DIR})
target_link_libraries(l2face_xxhash INTERFACE ${XXHASH_LIBRARY})
find_package(MPI COMPONENTS CXX)
find_package(Boost 1.74 REQUIRED)  # header-only parts: Asio, Beast
# ONNX export (deploy/): Debian's libonnx-dev and the libprotobuf-dev its headers need.
find_package(Protobuf REQUIRED)
find_package(ONNX REQUIRED)

# Torch: prefer an explicit Torch_DIR / CMAKE_PREFIX_PATH, else ask the venv's python.
if(NOT Torch_DIR)
  set(_l2face_py "${CMAKE_SOURCE_DIR}/.venv/bin/python")
  if(NOT EXISTS "${_l2face_py}")
    find_program(_l2face_py NAMES python3)
  endif()
  execute_process(COMMAND "${_l2face_py}" -c "import torch; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE _l2face_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _l2face_torch_rc ERROR_QUIET)
  if(_l2face_torch_rc EQUAL 0)
    list(APPEND CMAKE_PREFIX_PATH "${_l2face_torch_prefix}")
  endif()
endif()
# TorchConfig for a CUDA wheel looks for the CUDA toolkit; it is optional for our CPU paths.
find_package(Torch REQUIRED)
set(L2FACE_TORCH_LIB_DIR "")
list(GET TORCH_LIBRARIES 0 _l2face_first)
if(TARGET torch)
  get_target_property(_l2face_torch_loc torch IMPORTED_LOCATION)
  if(_l2face_torch_loc)
    get_filename_component(L2FACE_TORCH_LIB_DIR "${_l2face_torch_loc}" DIRECTORY)
  endif()
endif()

# CUDA / NCCL: compiled whenever both are found (this machine kind has them without a GPU).
set(L2FACE_HAVE_CUDA OFF)
set(L2FACE_HAVE_NCCL OFF)
if(NOT L2FACE_CUDA STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV NCCL_HOME PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ENV NCCL_HOME PATH_SUFFIXES lib lib64)
  if(CUDAToolkit_FOUND AND TARGET torch_cuda)
    set(L2FACE_HAVE_CUDA ON)
  endif()
  if(L2FACE_HAVE_CUDA AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(L2FACE_HAVE_NCCL ON)
  endif()
  if(L2FACE_CUDA STREQUAL "ON" AND NOT L2FACE_HAVE_CUDA)
    message(FATAL_ERROR "L2FACE_CUDA=ON but the CUDA toolkit (${CUDAToolkit_FOUND}) or torch's "
                        "CUDA library (torch_cuda) was not found")
  endif()
  # A CUDA torch without NCCL would link comm's CPU-only stub, which takes device pointers for
  # host ones: refused, in AUTO as in ON (OFF builds CPU-only on purpose).
  if(TARGET torch_cuda AND NOT L2FACE_HAVE_NCCL)
    message(FATAL_ERROR "torch has CUDA (torch_cuda) but NCCL was not found (NCCL_INCLUDE_DIR="
                        "${NCCL_INCLUDE_DIR}, NCCL_LIBRARY=${NCCL_LIBRARY}): set NCCL_INCLUDE_DIR "
                        "and NCCL_LIBRARY (or NCCL_HOME), or configure with -DL2FACE_CUDA=OFF "
                        "for a CPU-only build")
  endif()
endif()
message(STATUS "l2face: torch ${Torch_VERSION}, MPI ${MPI_CXX_FOUND}, CUDA ${L2FACE_HAVE_CUDA}, NCCL ${L2FACE_HAVE_NCCL}")
