# Writes OUT (a one-line header defining STARLING_GIT_COMMIT) from the commit
# of SOURCE_DIR, and rewrites it only when the commit changed, so a new
# commit recompiles one file (runtime/src/version.cpp) and relinks, and an
# unchanged one rebuilds nothing. Runs at every build (target
# starling_git_commit). Outside a git checkout, or without git: "unknown".
set(commit "unknown")
find_program(GIT_EXECUTABLE git)
if(GIT_EXECUTABLE)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short HEAD
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE out RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0 AND out)
    set(commit "${out}")
  endif()
endif()
set(text "#define STARLING_GIT_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
