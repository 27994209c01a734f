# Run at every build (the rb_git_rev target of CMakeLists.txt): writes OUT, a header defining
# RB_GIT_REV as the source revision ("66d6ac2", "66d6ac2-dirty" when tracked files differ from
# it, or "unknown" without git or outside a checkout). OUT is rewritten only when that text
# changes, so a build without a new commit or edit recompiles nothing.
#   cmake -DSRC=<source dir> -DOUT=<header> [-DGIT=<git executable>] -P git_rev.cmake
if(NOT DEFINED GIT OR GIT STREQUAL "")
  find_program(GIT git)
endif()
set(rev "unknown")
if(GIT)
  execute_process(COMMAND ${GIT} -C ${SRC} rev-parse --short HEAD
    OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
  if(NOT failed AND head)
    set(rev "${head}")
    # --no-optional-locks: reading the state must not take the index lock from a running git
    execute_process(COMMAND ${GIT} -C ${SRC} --no-optional-locks status --porcelain
      --untracked-files=no
      OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
    if(failed)
      set(rev "${head}-dirty") # the state cannot be read: not known to be clean
    elseif(changes)
      set(rev "${head}-dirty")
    endif()
  endif()
endif()
set(text "/* generated at build time by cmake/git_rev.cmake */\n#define RB_GIT_REV \"${rev}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
