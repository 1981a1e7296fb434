#include "models/task_registry.hpp"

#include <algorithm>
#include <stdexcept>

#include "models/model_registry.hpp"
#include "models/name_list.hpp"
#include "models/task_streams.hpp"
#include "models/tasks/builtin_tasks.hpp"

namespace models {
namespace {

std::vector<TaskEntry>& registry() {
  // The built-in tasks: one line each.
  static std::vector<TaskEntry> entries = {teacher_task(), recall_task(), sense_task(), lookup_task(), text_task()};
  return entries;
}

}  // namespace

bool TaskEntry::works_with(const std::string& model) const {
  return std::find(models.begin(), models.end(), model) != models.end();
}

const std::vector<TaskEntry>& task_entries() { return registry(); }

const TaskEntry* find_task(const std::string& name) {
  for (const TaskEntry& entry : registry())
    if (entry.name == name) return &entry;
  return nullptr;
}

const TaskEntry& task_entry(const std::string& name) {
  if (const TaskEntry* entry = find_task(name)) return *entry;
  throw std::invalid_argument("unknown task '" + name + "' (choose " + join_choices(task_names()) + ")");
}

bool register_task(TaskEntry entry) {
  if (find_task(entry.name) != nullptr) throw std::logic_error("task '" + entry.name + "' is registered twice");
  registry().push_back(std::move(entry));
  return true;
}

std::string task_choices_help() {
  const std::string& first_model = model_entries().front().name;
  std::vector<std::string> of_first;
  std::string others;
  for (const TaskEntry& entry : registry()) {
    if (entry.works_with(first_model)) of_first.push_back(entry.name);
    else if (!entry.models.empty()) others += "; " + entry.name + " with --model " + entry.models.front();
  }
  return join_choices(of_first) + others;
}

// The name-based entry points of tasks.hpp and task_streams.hpp, for code that has only a name.

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const TaskEntry& entry : registry()) names.push_back(entry.name);
  return names;
}

std::unique_ptr<Task> make_task(const std::string& name, const TaskConfig& config) {
  return task_entry(name).make(config);
}

Eigen::Index task_output_width(const std::string& name, const TaskConfig& config) {
  return task_entry(name).output_width(config);
}

TaskConfig stream_identity(const std::string& task_name, TaskConfig config) {
  return task_entry(task_name).stream_identity(config);
}

}  // namespace models
