# Fails when a file outside actors/ and tools/ includes a CAF header:
# runtime/, broker/ and the tests of pure logic are plain C++
# (see docs/architecture.md). tests/actors tests the actors themselves.
set(offenders "")
file(GLOB_RECURSE files "${SOURCE_DIR}/*.hpp" "${SOURCE_DIR}/*.cpp"
     "${SOURCE_DIR}/*.h" "${SOURCE_DIR}/*.cc")
foreach(f ${files})
  file(RELATIVE_PATH rel "${SOURCE_DIR}" "${f}")
  if(rel MATCHES "^(actors|tools|tests/actors|build[^/]*)/")
    continue()
  endif()
  file(STRINGS "${f}" hits REGEX "#[ \t]*include[ \t]*[<\"]caf/")
  if(hits)
    list(APPEND offenders "${rel}: ${hits}")
  endif()
endforeach()
if(offenders)
  string(REPLACE ";" "\n  " text "${offenders}")
  message(FATAL_ERROR "CAF included outside actors/ and tools/:\n  ${text}")
endif()
message(STATUS "layering ok: CAF is included only in actors/ and tools/")
