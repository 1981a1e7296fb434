#include "experiments/src/io/run_check.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <tuple>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/isolated.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/run_checksum.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::io {
namespace {

namespace lo = layout;

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

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_STRING: return "str";
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a float";
    default: return "of another type";
  }
}

bool is_of(H5T_class_t c, lo::Type type) {
  return (type == lo::Type::Str && c == H5T_STRING) || (type == lo::Type::Int64 && c == H5T_INTEGER) ||
         (type == lo::Type::Float64 && c == H5T_FLOAT);
}

H5T_class_t class_of(const AttributeValue& value) {
  if (std::holds_alternative<std::string>(value)) return H5T_STRING;
  return std::holds_alternative<std::int64_t>(value) ? H5T_INTEGER : H5T_FLOAT;
}

H5T_class_t dataset_class(const H5Reader& file, const std::string& path, const std::string& name) {
  try {
    return file.file().openDataSet(path).getTypeClass();
  } catch (const H5::Exception&) {
    throw UserError("dataset " + name + " cannot be opened");
  }
}

// The layout's row for a dataset of a run; a dataset the table does not name (written by a later version)
// is held to the rule of its clock: a float series as long as eval/step under eval/, else as step.
lo::Entry dataset_entry(const std::string& name) {
  if (const lo::Entry* e = lo::find(lo::kRunSection, name, lo::Kind::Dataset)) return *e;
  const bool eval = starts_with(name, lo::run::eval_prefix);
  return {lo::kRunSection, name, lo::Kind::Dataset, lo::Type::Float64, eval ? lo::Length::Evaluations : lo::Length::Logged, "", "", lo::Role::Data};
}

// Checks a run against the layout table (io/layout.hpp): every attribute and dataset it requires is
// there, with its type, rank and length; every other one it names has its type, rank and length too.
void check_run(const H5Reader& file, const std::string& name) {
  const std::string where = lo::run::path(name);
  if (file.object_kind(where) != H5Reader::Kind::Group) throw UserError("cannot be opened as a group");
  // Every attribute, not only the required ones, must read as str, int64 or float64 (load_run copies them).
  const auto attrs = read_scalar_attrs(file, where);
  auto find_attr = [&](const std::string& key) -> const AttributeValue* {
    for (const auto& [k, v] : attrs)
      if (k == key) return &v;
    return nullptr;
  };
  auto check_attr = [&](const std::string& key, lo::Type type, bool required) {
    const AttributeValue* value = find_attr(key);
    if (!value) {
      if (required) throw UserError("attribute " + key + " is missing");
      return;
    }
    if (!is_of(class_of(*value), type))
      throw UserError("attribute " + key + " is " + class_name(class_of(*value)) + ", expected " + lo::type_name(type));
  };
  for (const lo::Entry& e : lo::entries())
    if (e.section == lo::kRunSection && e.kind == lo::Kind::Attribute && e.path != lo::kRunOptionRow && e.path != lo::kTaskAttributeRow)
      check_attr(e.path, e.type, e.when.empty() && e.every_version);
  for (const lo::OptionAttribute& o : lo::run_options()) {
    check_attr(o.name, o.type, false);  // older versions had fewer options
    const AttributeValue* value = find_attr(o.name);
    if (!value) continue;
    const AttributeValue& v = *value;
    if (const auto* i = std::get_if<std::int64_t>(&v); i && *i < 0) throw UserError("attribute " + o.name + " is " + std::to_string(*i));
    if (const auto* d = std::get_if<double>(&v); d && !std::isfinite(*d)) throw UserError("attribute " + o.name + " is not finite");
  }
  if (const auto* seconds = std::get_if<double>(find_attr(lo::run::wall_seconds)); seconds && !std::isfinite(*seconds))
    throw UserError(std::string("attribute ") + lo::run::wall_seconds + " is not finite");
  const std::string status = std::get<std::string>(*find_attr(lo::run::status));
  if (status != lo::run::complete && status != lo::run::interrupted && status != lo::run::diverged)
    throw UserError("status is '" + status + "'");
  // The length rule of step refers to the steps option (read here even before the options are registered).
  const std::int64_t steps = file.read_int_attr(where, lo::run::steps_option);

  std::vector<std::string> datasets;
  collect_datasets(file, where, "", datasets, 0);
  for (const lo::Entry& e : lo::entries()) {
    if (e.section != lo::kRunSection || e.kind != lo::Kind::Dataset || !e.when.empty() || !e.every_version) continue;
    const bool present = std::any_of(datasets.begin(), datasets.end(), [&](const std::string& d) {
      const lo::Entry* found = lo::find(lo::kRunSection, d, lo::Kind::Dataset);
      return found && found->path == e.path;
    });
    if (!present) throw UserError("dataset " + e.path + " is missing");
  }
  // The two clocks first: every other series is as long as one of them.
  std::vector<std::int64_t> step, eval_step;
  for (const auto& [clock, values, limit] : {std::tuple{lo::run::step, &step, steps - 1}, std::tuple{lo::run::eval_step, &eval_step, steps}}) {
    if (std::find(datasets.begin(), datasets.end(), clock) == datasets.end()) continue;
    if (const H5T_class_t c = dataset_class(file, where + "/" + clock, clock); c != H5T_INTEGER)
      throw UserError(std::string("dataset ") + clock + " is " + class_name(c) + ", expected int64");
    *values = file.read_int_vector(where + "/" + clock);
    for (std::size_t i = 0; i < values->size(); ++i)
      if ((*values)[i] < 0 || (*values)[i] > limit || (i > 0 && (*values)[i] <= (*values)[i - 1]))
        throw UserError(std::string(clock) + " is not increasing within 0.." + (clock == lo::run::step ? "steps-1" : "steps"));
  }
  if (status == lo::run::complete && (step.empty() || step.back() != steps - 1))
    throw UserError("complete but step does not end at steps-1");
  for (const std::string& d : datasets) {
    if (d == lo::run::step || d == lo::run::eval_step) continue;
    const lo::Entry e = dataset_entry(d);
    const std::string path = where + "/" + d;
    if (const H5T_class_t c = dataset_class(file, path, d); !is_of(c, e.type))
      throw UserError("dataset " + d + " is " + class_name(c) + ", expected " + lo::type_name(e.type));
    if (e.length == lo::Length::Matrix) {
      const Eigen::MatrixXd m = file.read_matrix(path);  // refuses anything but 2-D
      if (status == lo::run::complete && !m.allFinite()) throw UserError(d + " is not finite");
      continue;
    }
    const std::vector<double> values = file.read_vector(path);  // refuses anything but 1-D
    const bool eval = e.length == lo::Length::Evaluations;
    const std::size_t want = eval ? eval_step.size() : step.size();
    if (values.size() != want)
      throw UserError("dataset " + d + " has " + std::to_string(values.size()) + " values but " +
                      (eval ? lo::run::eval_step : lo::run::step) + " has " + std::to_string(want));
    if (d == lo::run::loss)
      for (double v : values)
        if (!std::isfinite(v)) throw UserError(std::string(lo::run::loss) + " is not finite");
  }
  // Over everything read back as merge would copy it: what the checks above cannot see (a changed
  // digit of the config, a parameter, a loss value). A run written before checksums has none: not checked.
  if (const auto* stored = std::get_if<std::string>(find_attr(lo::run::checksum))) {
    const bool hex = stored->size() == 8 && stored->find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex) throw UserError(std::string("attribute ") + lo::run::checksum + " is not 8 hex digits");
    const std::string computed = run_checksum(load_run(file, name));
    if (computed != *stored)
      throw UserError("its content does not match its checksum: stored " + *stored + ", computed " + computed +
                      ", so it changed after it was written");
  }
  // Older runs have no checksum, but most have config and its hash (their changed config is found so).
  const auto* config = std::get_if<std::string>(find_attr(lo::run::config));
  const auto* hash = std::get_if<std::string>(find_attr(lo::run::config_hash));
  if (config && hash && config_hash(*config) != *hash)
    throw UserError(std::string("attribute ") + lo::run::config_hash + " does not match " + lo::run::config +
                    ", so one of them changed after it was written");
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
  if (!file.exists(lo::run::group_path)) {
    if (file.has_link(lo::run::group_path)) throw UserError(file.path() + ": /runs cannot be opened (the file is damaged)");
    return damaged;
  }
  if (file.object_kind(lo::run::group_path) != H5Reader::Kind::Group) throw UserError(file.path() + ": /runs is not a group (not a run file)");
  for (const std::string& name : file.list_links(lo::run::group_path))
    if (std::string problem = run_problem(file, name); !problem.empty()) damaged.emplace_back(name, problem);
  return damaged;
}

// Some damage makes the HDF5 library itself crash (a corrupted global heap: a memcpy of a garbage length
// inside H5HG_read, or a double free), which no check before the read can rule out. So files are
// validated in child processes (io/isolated.hpp): all runs in one child, and once a child has crashed,
// each remaining run in a child of its own, so that the crash marks the run that caused it.
std::vector<std::pair<std::string, std::string>> damaged_runs(const std::string& path) {
  const auto listing = run_isolated([&] {
    const H5Reader reader(path);
    // The root attributes share the runs' heap of strings, and writers rewrite them: read them too (a
    // crash here fails the whole file; a wrong type is for the writer to replace).
    for (const char* key : lo::root::all) {
      try {
        if (reader.has_attr("/", key)) reader.read_string_attr("/", key);
      } catch (const UserError&) {
      }
    }
    std::string names;
    if (reader.has_link(lo::run::group_path)) {
      if (reader.object_kind(lo::run::group_path) != H5Reader::Kind::Group)
        throw UserError(path + ": /runs is not a group, or cannot be opened (not a run file, or damaged)");
      for (const std::string& name : reader.list_links(lo::run::group_path)) append_field(names, name);
    }
    return names;
  });
  if (!listing) throw UserError(path + ": is damaged (reading its list of runs crashes the HDF5 library)");
  std::vector<std::string> names;
  std::size_t pos = 0;
  for (std::string name; next_field(*listing, pos, name);) names.push_back(name);

  // The problems of runs first .. first+count-1, one field each ("" for an intact run); nullopt on a crash.
  auto problems_of = [&](std::size_t first, std::size_t count) {
    return run_isolated([&] {
      const H5Reader reader(path);
      std::string problems;
      for (std::size_t i = first; i < first + count; ++i) append_field(problems, run_problem(reader, names[i]));
      return problems;
    });
  };
  std::vector<std::pair<std::string, std::string>> damaged;
  bool one_by_one = false;
  for (std::size_t next = 0; next < names.size();) {
    const std::size_t count = one_by_one ? 1 : names.size() - next;
    const auto problems = problems_of(next, count);
    std::vector<std::string> found;
    std::size_t at = 0;
    for (std::string problem; problems && next_field(*problems, at, problem);) found.push_back(problem);
    if (found.size() != count) {  // the child crashed (or its reply was cut short)
      if (one_by_one) damaged.emplace_back(names[next++], "reading it crashes the HDF5 library");
      one_by_one = true;
      continue;
    }
    for (const std::string& problem : found) {
      if (!problem.empty()) damaged.emplace_back(names[next], problem);
      ++next;
    }
  }
  return damaged;
}

RunRecord load_run(const H5Reader& file, const std::string& name) {
  const std::string where = lo::run::path(name);
  const std::string params_init = std::string(lo::run::params_init) + "/", params = std::string(lo::run::params) + "/";
  RunRecord run;
  run.name = name;
  for (const auto& [key, value] : read_scalar_attrs(file, where)) run.set(key, value);
  std::vector<std::string> datasets;
  collect_datasets(file, where, "", datasets, 0);
  for (const std::string& d : datasets) {
    const std::string path = where + "/" + d;
    if (d == lo::run::step) run.steps = file.read_int_vector(path);
    else if (starts_with(d, params_init)) run.params_init.emplace_back(d.substr(params_init.size()), file.read_matrix(path));
    else if (starts_with(d, params)) run.params_final.emplace_back(d.substr(params.size()), file.read_matrix(path));
    else if (dataset_entry(d).type == lo::Type::Int64) run.int_series_named(d) = file.read_int_vector(path);
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
