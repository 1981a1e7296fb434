#include "experiments/src/io/isolated.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "experiments/src/io/child_process.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::io {
namespace {

void write_all(int fd, const std::string& text) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// A crash of the library on a damaged file is expected in the child, not a bug to report: it ends the
// child quietly (no core, no sanitizer report), and the parent sees that it died.
extern "C" void exit_on_crash(int) { ::_exit(99); }
extern "C" void __sanitizer_set_report_path(const char*) __attribute__((weak));

void crash_quietly() {
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, exit_on_crash);
  if (__sanitizer_set_report_path) __sanitizer_set_report_path("/dev/null");
}

// What the child hands back: 'O' and the text, or 'E' and the one-line error to throw again.
std::string reply_of(const std::function<std::string()>& work) {
  // Built by appending: GCC 12 warns falsely (-Wrestrict) on "O" + work().
  std::string reply;
  try {
    const std::string body = work();
    reply.reserve(body.size() + 1);
    reply += 'O';
    reply += body;
  } catch (const UserError& e) {
    reply = 'E';
    reply += e.what();
  } catch (const std::exception& e) {
    reply = 'E';
    reply += "cannot be read (";
    reply += e.what();
    reply += ")";
  }
  return reply;
}

std::string read_all(int fd) {
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n > 0) text.append(buf, static_cast<std::size_t>(n));
    else if (errno != EINTR) break;
  }
  return text;
}

}  // namespace

std::optional<std::string> run_isolated(const std::function<std::string()>& work) {
  int fds[2];
  if (::pipe(fds) != 0) return work();
  std::string text;
  const auto status = run_forked(
      [&] {
        ::close(fds[0]);
        crash_quietly();
        write_all(fds[1], reply_of(work));
        ::close(fds[1]);
        return 0;
      },
      [&] {
        ::close(fds[1]);
        text = read_all(fds[0]);
        ::close(fds[0]);
      });
  if (!status) {
    ::close(fds[0]);
    ::close(fds[1]);
    return work();
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0 || text.empty()) return std::nullopt;
  if (text[0] == 'E') throw UserError(text.substr(1));
  return text.substr(1);
}

void append_field(std::string& text, const std::string& field) {
  text += std::to_string(field.size());
  text += ':';
  text += field;
}

bool next_field(const std::string& text, std::size_t& pos, std::string& field) {
  const std::size_t colon = text.find(':', pos);
  if (pos >= text.size() || colon == std::string::npos) return false;
  const std::size_t length = std::stoul(text.substr(pos, colon - pos));
  field = text.substr(colon + 1, length);
  pos = colon + 1 + length;
  return true;
}

}  // namespace sbx::io
