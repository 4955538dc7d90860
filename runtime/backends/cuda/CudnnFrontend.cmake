# bf16/f16 attention through cuDNN's fused flash attention needs the cuDNN
# frontend's header-only C++ API (cudnn_frontend.h), which the PyPI wheel
# nvidia-cudnn-frontend installs under site-packages/include. Nothing is
# vendored: it is looked for in -DFRESCO_CUDNN_FRONTEND_ROOT, the
# project's .venv, python3's site-packages and the build folder's
# _deps/cudnn-frontend (`pip install --target build/_deps/cudnn-frontend
# nvidia-cudnn-frontend`). Without it attention stays on Fresco's kernels.
# Included by CMakeLists.txt once cudnn.h was found.
set(FRESCO_CUDNN_FRONTEND_ROOT "" CACHE PATH
  "cuDNN frontend (include/cudnn_frontend.h), e.g. a pip --target folder")
set(_fresco_fe_hints)
foreach(root ${FRESCO_CUDNN_FRONTEND_ROOT}
        "${PROJECT_BINARY_DIR}/_deps/cudnn-frontend")
  list(APPEND _fresco_fe_hints "${root}/include")
endforeach()
file(GLOB _fresco_fe_venv
  "${PROJECT_SOURCE_DIR}/.venv/lib/python3*/site-packages/include")
list(APPEND _fresco_fe_hints ${_fresco_fe_venv})
if(FRESCO_CUDNN_PYTHON)
  execute_process(
    COMMAND ${FRESCO_CUDNN_PYTHON} -c
      "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    OUTPUT_VARIABLE _fresco_fe_site OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET TIMEOUT 30)
  if(_fresco_fe_site)
    list(APPEND _fresco_fe_hints "${_fresco_fe_site}/include")
  endif()
endif()
find_path(FRESCO_CUDNN_FRONTEND_INCLUDE_DIR cudnn_frontend.h
  HINTS ${_fresco_fe_hints} NO_DEFAULT_PATH)
# -DFRESCO_CUDNN_FRONTEND_INCLUDE_DIR=OFF builds without it.
set(_fresco_fe_version "")
set(_fresco_fe_usable FALSE)
set(_fresco_fe_old FALSE)
if(FRESCO_CUDNN_FRONTEND_INCLUDE_DIR
   AND EXISTS "${FRESCO_CUDNN_FRONTEND_INCLUDE_DIR}/cudnn_frontend.h")
  set(_fresco_fe_usable TRUE)
  set(_fresco_fe_vh
    "${FRESCO_CUDNN_FRONTEND_INCLUDE_DIR}/cudnn_frontend_version.h")
  if(EXISTS "${_fresco_fe_vh}")
    file(STRINGS "${_fresco_fe_vh}" _fresco_fe_lines
      REGEX "^#define CUDNN_FRONTEND_(MAJOR|MINOR)_VERSION")
    string(REGEX REPLACE ".*MAJOR_VERSION ([0-9]+).*MINOR_VERSION ([0-9]+).*"
      "\\1.\\2" _fresco_fe_version "${_fresco_fe_lines}")
  endif()
  # CudnnAttention.cpp calls SDPA_attributes::set_generate_stats (1.13)
  # and set_implementation (1.14, to fall back on the composite graph): an
  # older frontend is not used.
  if(NOT _fresco_fe_version OR _fresco_fe_version VERSION_LESS 1.14)
    message(STATUS "cuDNN frontend ${_fresco_fe_version} at "
      "${FRESCO_CUDNN_FRONTEND_INCLUDE_DIR} is older than 1.14 (or has no "
      "cudnn_frontend_version.h): not used; attention stays on Fresco's "
      "kernels (pip install 'nvidia-cudnn-frontend>=1.14')")
    set(_fresco_fe_usable FALSE)
    set(_fresco_fe_old TRUE)
  endif()
endif()
if(_fresco_fe_usable)
  # The frontend's headers are third-party: no warnings from them. The
  # shim defines the cuDNN names it calls, so it sees cudnn.h's path and
  # the configure-time library path.
  set(_fresco_fe_defs FRESCO_HAVE_CUDNN_FRONTEND)
  if(FRESCO_CUDNN_LIBRARY)
    list(APPEND _fresco_fe_defs "FRESCO_CUDNN_PATH=\"${FRESCO_CUDNN_LIBRARY}\"")
  endif()
  set_source_files_properties(CudnnAttention.cpp CudnnShim.cpp PROPERTIES
    COMPILE_DEFINITIONS "${_fresco_fe_defs}"
    COMPILE_OPTIONS "-isystem;${FRESCO_CUDNN_FRONTEND_INCLUDE_DIR};-isystem;${FRESCO_CUDNN_INCLUDE_DIR}")
  message(STATUS "cuDNN frontend ${_fresco_fe_version}: bf16/f16 attention "
    "through cuDNN's flash attention (${FRESCO_CUDNN_FRONTEND_INCLUDE_DIR})")
elseif(NOT _fresco_fe_old)
  message(STATUS "cuDNN frontend: no cudnn_frontend.h found; attention stays "
    "on Fresco's kernels (pip install nvidia-cudnn-frontend, or "
    "-DFRESCO_CUDNN_FRONTEND_ROOT=... to point at one)")
endif()
