# cmake -DOPS_DEF=<Ops.def> -DOUT=<opcodes.fbs> -P GenerateOpCodes.cmake
# Writes the plan schema's OpCode enum from the rows of Ops.def, in order.
file(STRINGS "${OPS_DEF}" rows REGEX "^FRESCO_OP\\(")
set(names "")
foreach(row IN LISTS rows)
  string(REGEX REPLACE "^FRESCO_OP\\(([A-Za-z0-9_]+),.*" "\\1" name "${row}")
  list(APPEND names "${name}")
endforeach()
list(LENGTH names count)
if(count EQUAL 0)
  message(FATAL_ERROR "no FRESCO_OP rows in ${OPS_DEF}")
endif()
list(JOIN names ",\n  " body)
set(text "// Generated from runtime/schema/Ops.def by GenerateOpCodes.cmake: edit that.
namespace fresco.plan;

// One per row of Ops.def, in its order (the values are stored in plans).
enum OpCode : ushort {
  ${body}
}
")
# Rewrite only on change, so that flatc and its dependents do not rerun.
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${text}")
