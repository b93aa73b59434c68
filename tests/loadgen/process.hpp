// Runs a child process for the CLI tests: argv in, exit status and output out,
// killed after a time limit so a hung child cannot hang the suite.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace anvil::loadgen::testing {

struct ProcessResult {
  int status = -1;  // exit status, or -1 if killed or not started
  std::string out;
  std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds limit = std::chrono::seconds(20));

// A started child whose stderr is read line by line (for "listening on").
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();  // SIGTERM, then SIGKILL after 5 s; reaps
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Reads stderr until a line contains `needle` or `limit` passes; the line, or "".
  std::string wait_for_line(const std::string& needle, std::chrono::milliseconds limit);
  bool started() const { return pid_ > 0; }

 private:
  int pid_ = -1;
  int err_fd_ = -1;
  std::string pending_;
};

}  // namespace anvil::loadgen::testing
