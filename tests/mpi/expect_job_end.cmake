# Runs an MPI job that must fail, and checks how it ends: its exit code (EXPECT_RC, or just
# non-zero), up to two texts in its output (EXPECT_TEXT1/2), and within MAX_SECONDS.
# cmake -DMPIEXEC=... -DNP=... -DPROGRAM=... -DMODE=... [-DEXPECT_RC=3] -P expect_job_end.cmake
string(TIMESTAMP t0 "%s")
execute_process(
  COMMAND ${MPIEXEC} -n ${NP} --allow-run-as-root --oversubscribe ${PROGRAM} ${MODE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT ${MAX_SECONDS})
string(TIMESTAMP t1 "%s")
math(EXPR took "${t1} - ${t0}")
message("${out}${err}")
message("-- exit code: ${rc}, ${took} s")
if(DEFINED EXPECT_RC)
  if(NOT "${rc}" STREQUAL "${EXPECT_RC}")
    message(FATAL_ERROR "exit code '${rc}', expected ${EXPECT_RC}")
  endif()
elseif("${rc}" STREQUAL "0" OR NOT "${rc}" MATCHES "^[0-9]+$")
  message(FATAL_ERROR "exit code '${rc}', expected a non-zero exit within ${MAX_SECONDS} s")
endif()
foreach(text IN ITEMS "${EXPECT_TEXT1}" "${EXPECT_TEXT2}")
  if(NOT text STREQUAL "")
    string(FIND "${out}${err}" "${text}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "the output does not contain: ${text}")
    endif()
  endif()
endforeach()
