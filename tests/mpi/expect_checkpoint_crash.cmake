# A crash in the middle of a collective checkpoint commit, then recovery (driven by ctest):
#   1. save step 1 (must commit);  2. save step 2 with L2FACE_FAULT=${FAULT} (must end with the
#   injected crash's exit code 86);  3. openCheckpoint gives step 1 and checkpoints/ holds exactly
#   ${AFTER_CRASH};  4. save step 3 (must commit);  5. step 3 is current and checkpoints/ holds
#   exactly ${AFTER_RECOVERY}.
# cmake -DMPIEXEC=... -DNP=... -DPROBE=... -DRUN=... -DFAULT=... -DAFTER_CRASH=... -DAFTER_RECOVERY=...
#       -P expect_checkpoint_crash.cmake
file(REMOVE_RECURSE "${RUN}")
set(mpirun ${MPIEXEC} -n ${NP} --allow-run-as-root --oversubscribe)

function(step expected_rc)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 60)
  string(REPLACE ";" " " shown "${ARGN}")
  message("$ ${shown}\n${out}${err}-- exit code ${rc}")
  if(NOT "${rc}" STREQUAL "${expected_rc}")
    message(FATAL_ERROR "exit code '${rc}', expected ${expected_rc}")
  endif()
endfunction()

step(0 ${mpirun} ${PROBE} save ${RUN} 1)
step(86 ${CMAKE_COMMAND} -E env L2FACE_FAULT=${FAULT} ${mpirun} ${PROBE} save ${RUN} 2)
step(0 ${PROBE} check ${RUN} 1 ${AFTER_CRASH})
step(0 ${mpirun} ${PROBE} save ${RUN} 3)
step(0 ${PROBE} check ${RUN} 3 ${AFTER_RECOVERY})
