// Running a helper program on untrusted input: the input is its stdin (a memory file, so a helper
// that writes before it has read everything cannot deadlock), its stdout is collected up to a
// limit, and it is killed when it runs past a deadline. The child inherits no descriptor beyond
// stdin, stdout and stderr (/dev/null).
//
// Thread-safety: reentrant (posix_spawn; each call waits for its own child only).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace hearth {

struct SubprocessResult {
  int exit_code = -1;      // when the child exited
  int signal = 0;          // when a signal ended it (SIGKILL after a timeout, SIGSEGV, SIGXCPU, ...)
  bool timed_out = false;  // killed at the deadline
  bool output_over_limit = false;  // killed because stdout went past max_output
  std::string out;
};

// argv[0] is the program's path (no PATH search). Errors: the program cannot be started
// (unavailable, naming it), or the system refused a pipe or memory file (internal).
Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv, std::string_view input,
                                        std::chrono::milliseconds timeout, std::size_t max_output);

// The directory of the running executable ("" when /proc/self/exe cannot be read).
std::string executable_dir();

}  // namespace hearth
