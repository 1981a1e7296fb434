#include "experiments/src/io/run_check.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <cmath>
#include <filesystem>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::io {
namespace {

const char* const kStringAttrs[] = {"task", "model", "scale", "optimizer", "status"};
const char* const kIntAttrs[] = {"d_model", "d_k", "d_v", "d_out", "seq_len", "batch", "steps", "seed", "causal", "log_every"};
const char* const kFloatAttrs[] = {"lr", "init_std", "gradcheck_max_error", "wall_seconds"};
const char* const kRequiredSeries[] = {"loss", "grad_norm/W_Q", "grad_norm/W_K", "grad_norm/W_V", "logit_grad/mean",
                                       "logit_grad/median", "saturated_fraction", "attn_entropy", "attn_max", "logit_std"};

// Dataset paths below `path` (relative to it), walking links without following anything that fails.
void collect_datasets(const H5Reader& file, const std::string& path, const std::string& prefix,
                      std::vector<std::string>& out, int depth) {
  if (depth > 4) throw UserError("groups nested too deep under " + path);
  for (const std::string& link : file.list_links(path)) {
    const std::string child = path + "/" + link;
    switch (file.object_kind(child)) {
      case H5Reader::Kind::Group: collect_datasets(file, child, prefix + link + "/", out, depth + 1); break;
      case H5Reader::Kind::Dataset: out.push_back(prefix + link); break;
      default: throw UserError(prefix + link + " cannot be opened");
    }
  }
}

// Every attribute of the object at path, as string, int64 or float64 (anything else is damage here).
std::vector<std::pair<std::string, AttributeValue>> read_scalar_attrs(const H5Reader& file, const std::string& path) {
  std::vector<std::pair<std::string, AttributeValue>> attrs;
  std::vector<std::string> names;
  try {
    const H5::Group group = file.file().openGroup(path);
    for (int i = 0, n = group.getNumAttrs(); i < n; ++i) names.push_back(group.openAttribute(static_cast<unsigned>(i)).getName());
  } catch (const H5::Exception&) {
    throw UserError(path + ": its attributes cannot be read");
  }
  for (const std::string& name : names) {
    H5T_class_t type_class = H5T_NO_CLASS;
    try {
      type_class = file.file().openGroup(path).openAttribute(name).getTypeClass();
    } catch (const H5::Exception&) {
      throw UserError("attribute " + name + " cannot be read");
    }
    if (type_class == H5T_STRING) attrs.emplace_back(name, file.read_string_attr(path, name));
    else if (type_class == H5T_INTEGER) attrs.emplace_back(name, file.read_int_attr(path, name));
    else if (type_class == H5T_FLOAT) attrs.emplace_back(name, file.read_double_attr(path, name));
    else throw UserError("attribute " + name + " has an unexpected type");
  }
  return attrs;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

void check_run(const H5Reader& file, const std::string& name) {
  const std::string where = "/runs/" + name;
  if (file.object_kind(where) != H5Reader::Kind::Group) throw UserError("cannot be opened as a group");
  for (const char* key : kStringAttrs) file.read_string_attr(where, key);
  std::int64_t steps = 0;
  for (const char* key : kIntAttrs) {
    const std::int64_t v = file.read_int_attr(where, key);
    if (std::string(key) == "steps") steps = v;
    const bool may_be_zero = std::string(key) == "d_out" || std::string(key) == "seed" || std::string(key) == "causal";
    if (v < 0 || (v == 0 && !may_be_zero)) throw UserError("attribute " + std::string(key) + " is " + std::to_string(v));
  }
  for (const char* key : kFloatAttrs) {
    const double v = file.read_double_attr(where, key);
    if (std::string(key) != "gradcheck_max_error" && !std::isfinite(v)) throw UserError("attribute " + std::string(key) + " is not finite");
  }
  read_scalar_attrs(file, where);  // every attribute, not only the required ones, must read (load_run copies them)
  const std::string status = file.read_string_attr(where, "status");
  if (status != "complete" && status != "interrupted" && status != "diverged") throw UserError("status is '" + status + "'");

  std::vector<std::string> datasets;
  collect_datasets(file, where, "", datasets, 0);
  const std::vector<std::int64_t> step = file.read_int_vector(where + "/step");
  for (std::size_t i = 0; i < step.size(); ++i)
    if (step[i] < 0 || step[i] >= steps || (i > 0 && step[i] <= step[i - 1])) throw UserError("step is not increasing within 0..steps-1");
  if (status == "complete" && (step.empty() || step.back() != steps - 1)) throw UserError("complete but step does not end at steps-1");
  for (const char* key : kRequiredSeries)
    if (std::find(datasets.begin(), datasets.end(), key) == datasets.end()) throw UserError("dataset " + std::string(key) + " is missing");
  // The held-out evaluation has a clock of its own: eval/step (int, increasing from 0, at most `steps`)
  // and every other eval/* series as long as it.
  std::vector<std::int64_t> eval_step;
  if (std::find(datasets.begin(), datasets.end(), "eval/step") != datasets.end()) {
    eval_step = file.read_int_vector(where + "/eval/step");
    for (std::size_t i = 0; i < eval_step.size(); ++i)
      if (eval_step[i] < 0 || eval_step[i] > steps || (i > 0 && eval_step[i] <= eval_step[i - 1]))
        throw UserError("eval/step is not increasing within 0..steps");
  }
  for (const std::string& d : datasets) {
    const std::string path = where + "/" + d;
    if (d == "step" || d == "eval/step") continue;
    if (starts_with(d, "eval/")) {
      const std::vector<double> values = file.read_vector(path);
      if (values.size() != eval_step.size())
        throw UserError("dataset " + d + " has " + std::to_string(values.size()) + " values but eval/step has " +
                        std::to_string(eval_step.size()));
      continue;
    }
    if (starts_with(d, "params/") || starts_with(d, "params_init/")) {
      const Eigen::MatrixXd m = file.read_matrix(path);
      if (status == "complete" && !m.allFinite()) throw UserError(d + " is not finite");
      continue;
    }
    const std::vector<double> values = file.read_vector(path);
    if (values.size() != step.size())
      throw UserError("dataset " + d + " has " + std::to_string(values.size()) + " values but step has " + std::to_string(step.size()));
    if (d == "loss")
      for (double v : values)
        if (!std::isfinite(v)) throw UserError("loss is not finite");
  }
}

}  // namespace

std::string run_problem(const H5Reader& file, const std::string& name) {
  try {
    check_run(file, name);
  } catch (const UserError& e) {
    // Reader messages start with "<file>: " and name the object: the caller names the file and run.
    std::string text = e.what();
    if (starts_with(text, file.path() + ": ")) text = text.substr(file.path().size() + 2);
    return text.empty() ? "damaged" : text;
  } catch (const std::exception& e) {
    return std::string("cannot be read (") + e.what() + ")";
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> damaged_runs(const H5Reader& file) {
  std::vector<std::pair<std::string, std::string>> damaged;
  if (!file.exists("/runs")) {
    if (file.has_link("/runs")) throw UserError(file.path() + ": /runs cannot be opened (the file is damaged)");
    return damaged;
  }
  if (file.object_kind("/runs") != H5Reader::Kind::Group) throw UserError(file.path() + ": /runs is not a group (not a run file)");
  for (const std::string& name : file.list_links("/runs"))
    if (std::string problem = run_problem(file, name); !problem.empty()) damaged.emplace_back(name, problem);
  return damaged;
}

namespace {

// Some damage makes the HDF5 library itself crash (a corrupted global heap: a memcpy of a garbage length
// inside H5HG_read, or a double free), which no check before the read can rule out. So files are
// validated in a child process: a crash there marks the run being read as damaged, and a new child goes
// on with the next run.
extern "C" void exit_on_crash(int) { ::_exit(99); }
extern "C" void __sanitizer_set_report_path(const char*) __attribute__((weak));

void child_validate(const std::string& path, std::size_t first, int fd) {
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, exit_on_crash);
  // A crash of the library on a damaged file is expected here, not a bug of ours to report.
  if (__sanitizer_set_report_path) __sanitizer_set_report_path("/dev/null");
  std::string out;
  auto emit = [&](char tag, const std::string& rest) {
    std::string clean(1, tag);  // built by append: GCC 12 warns falsely (-Wrestrict) on "x" + string
    clean.append(rest);
    for (char& c : clean)
      if (c == '\n' || c == '\t') c = ' ';
    clean += '\n';
    for (std::size_t done = 0; done < clean.size();) {
      const ssize_t n = ::write(fd, clean.data() + done, clean.size() - done);
      if (n <= 0) ::_exit(98);
      done += static_cast<std::size_t>(n);
    }
  };
  try {
    const H5Reader reader(path);
    // The root attributes share the runs' heap of strings, and writers rewrite them: read them too (a
    // crash here fails the whole file; a wrong type is for the writer to replace).
    for (const char* key : {"created_utc", "git_commit", "sandbox_version", "eigen_version", "hdf5_version"}) {
      try {
        if (reader.has_attr("/", key)) reader.read_string_attr("/", key);
      } catch (const UserError&) {
      }
    }
    std::vector<std::string> names;
    if (reader.has_link("/runs")) {
      if (reader.object_kind("/runs") != H5Reader::Kind::Group)
        throw UserError(path + ": /runs is not a group, or cannot be opened (not a run file, or damaged)");
      names = reader.list_links("/runs");
    }
    for (const std::string& name : names) emit('L', name);
    emit('E', "");
    for (std::size_t i = first; i < names.size(); ++i) emit('R', run_problem(reader, names[i]));
  } catch (const std::exception& e) {
    emit('X', e.what());
  }
  ::_exit(0);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> damaged_runs(const std::string& path) {
  std::vector<std::string> names;
  std::vector<std::pair<std::string, std::string>> damaged;
  bool listed = false;
  std::size_t next = 0;
  for (;;) {
    int fds[2];
    if (::pipe(fds) != 0) throw UserError(path + ": cannot validate it: " + std::strerror(errno));
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) throw UserError(path + ": cannot validate it: " + std::strerror(errno));
    if (child == 0) {
      ::close(fds[0]);
      child_validate(path, next, fds[1]);
    }
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
      if (n > 0) text.append(buf, static_cast<std::size_t>(n));
      else if (errno != EINTR) break;
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    std::string error;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      const std::string rest = line.substr(1);
      if (line[0] == 'L' && !listed) names.push_back(rest);
      else if (line[0] == 'E') listed = true;
      else if (line[0] == 'R') {
        if (!rest.empty()) damaged.emplace_back(names.at(next), rest);
        ++next;
      } else if (line[0] == 'X') error = rest;
    }
    if (!error.empty()) throw UserError(error);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return damaged;
    if (!listed) throw UserError(path + ": is damaged (reading its list of runs crashes the HDF5 library)");
    if (next >= names.size()) return damaged;
    damaged.emplace_back(names[next], "reading it crashes the HDF5 library");
    if (++next >= names.size()) return damaged;
  }
}

RunRecord load_run(const H5Reader& file, const std::string& name) {
  const std::string where = "/runs/" + name;
  RunRecord run;
  run.name = name;
  for (const auto& [key, value] : read_scalar_attrs(file, where)) run.set(key, value);
  std::vector<std::string> datasets;
  collect_datasets(file, where, "", datasets, 0);
  for (const std::string& d : datasets) {
    const std::string path = where + "/" + d;
    if (d == "step") run.steps = file.read_int_vector(path);
    else if (d == "eval/step") run.int_series_named(d) = file.read_int_vector(path);
    else if (starts_with(d, "params_init/")) run.params_init.emplace_back(d.substr(12), file.read_matrix(path));
    else if (starts_with(d, "params/")) run.params_final.emplace_back(d.substr(7), file.read_matrix(path));
    else run.series_named(d) = file.read_vector(path);
  }
  return run;
}

void refuse_damaged_runs(const std::string& path) {
  const std::string target = resolve_target(path);
  if (!std::filesystem::exists(target)) return;
  { const H5Reader reader(target); }  // one clear line if it is not a readable HDF5 file
  const auto damaged = damaged_runs(target);
  if (damaged.empty()) return;
  throw UserError(path + ": run '" + damaged.front().first + "' is damaged (" + damaged.front().second + ")" +
                  (damaged.size() > 1 ? " and " + std::to_string(damaged.size() - 1) + " more" : "") +
                  "; `sandbox merge --skip-damaged NEW.h5 " + path + "` keeps the others");
}

}  // namespace sbx::io
