# Fails when a file outside actors/ and tools/ includes a CAF header:
# runtime/ and broker/ are plain C++ (see docs/architecture.md).
set(offenders "")
foreach(dir runtime broker tests/unit)
  file(GLOB_RECURSE files "${SOURCE_DIR}/${dir}/*.hpp" "${SOURCE_DIR}/${dir}/*.cpp"
       "${SOURCE_DIR}/${dir}/*.h" "${SOURCE_DIR}/${dir}/*.cc")
  foreach(f ${files})
    file(STRINGS "${f}" hits REGEX "#[ \t]*include[ \t]*[<\"]caf/")
    if(hits)
      list(APPEND offenders "${f}: ${hits}")
    endif()
  endforeach()
endforeach()
if(offenders)
  string(REPLACE ";" "\n  " text "${offenders}")
  message(FATAL_ERROR "CAF included outside actors/ and tools/:\n  ${text}")
endif()
message(STATUS "layering ok: no CAF include in runtime/, broker/, tests/unit/")
