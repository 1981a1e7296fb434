#pragma once
// What several test files need, written once: a scratch directory per test, the files in it, and running
// the `sandbox` binary (SANDBOX_BINARY, defined by CMake for the test binaries).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace sbx::test {

// A fresh directory for the running test, <tmp>/<prefix>_<test name>_<pid>, removed with everything in it
// when the object goes (a leftover of a crashed earlier run is removed first).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string test = info ? info->name() : "outside_a_test";
    dir_ = std::filesystem::temp_directory_path() / (prefix + "_" + test + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // The names in the directory, sorted.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path dir_;
};

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct CommandResult {
  int status = -1;  // the exit code; -1 if the process did not exit normally
  std::string err;  // what it wrote on stderr
};

// Runs `sandbox ARGUMENTS` (a shell command line; stdout discarded), with its stderr kept in dir/stderr.txt.
inline CommandResult run_sandbox(const std::string& arguments, const std::filesystem::path& dir) {
  const std::filesystem::path err = dir / "stderr.txt";
  const std::string command = std::string("'") + SANDBOX_BINARY + "' " + arguments + " >/dev/null 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_bytes(err)};
}

}  // namespace sbx::test
