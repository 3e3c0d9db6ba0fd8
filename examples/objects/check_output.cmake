# Runs the objects demo in MODE and compares its output with EXPECTED (<mode> stands for the
# mode). Fails in thunk mode on a machine without a thunk emitter (the demo says so).
cmake_policy(VERSION 3.25)
execute_process(COMMAND "${DEMO}" "${MODE}" OUTPUT_VARIABLE out ERROR_VARIABLE err
                RESULT_VARIABLE rc)
file(READ "${EXPECTED}" expected)
string(REPLACE "<mode>" "${MODE}" expected "${expected}")
if(NOT rc EQUAL 0 OR NOT out STREQUAL expected)
  message(FATAL_ERROR "objects_demo ${MODE}: exit ${rc}\n--- got\n${out}${err}--- expected\n${expected}")
endif()
