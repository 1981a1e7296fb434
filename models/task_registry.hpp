#pragma once
// The tasks, each registered once with everything the rest of the sandbox needs to know about it: how
// to make its batches, which models it works with, its output width, which configuration fields its
// batches depend on, and which settings it cannot use. The trainer, the evaluator, the batch streams
// and the CLI look a task up here by its name and then use the entry; none of them compares names.
//
// The built-in tasks are listed in task_registry.cpp (one line each, next to their files in
// models/tasks/). Code outside this library (a test's toy task) adds one with register_task().
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/tasks.hpp"

namespace models {

struct TaskEntry {
  std::string name;
  // The models (models/model_registry.hpp) the task works with.
  std::vector<std::string> models;
  // The error for any other model, e.g. "--task lookup needs --model cross (and --context-len)".
  std::string wrong_model_error;
  std::function<std::unique_ptr<Task>(const TaskConfig&)> make;
  // The model output width the task wants for a configuration (d_out of the teacher, classes otherwise).
  std::function<Eigen::Index(const TaskConfig&)> output_width;
  // `config` with every field the task's batches do not depend on set to its default: runs whose
  // identities are equal draw equal batch streams, which a sweep may then share. A field a task starts
  // to read must be kept here too (the logged-numbers test, whose sweeps vary d_k, heads and the mask
  // of every task, fails otherwise).
  std::function<TaskConfig(TaskConfig)> stream_identity;
  // "" or the one-line error for settings the task cannot use (checked after the generic ones); the
  // configuration is the run's as given (d_out 0 when unset).
  std::function<std::string(const TaskConfig&)> check = [](const TaskConfig&) { return std::string(); };

  bool works_with(const std::string& model) const;
};

// Every task, built-in ones first, in registration order.
const std::vector<TaskEntry>& task_entries();
// nullptr for an unknown name.
const TaskEntry* find_task(const std::string& name);
// Throws std::invalid_argument "unknown task 'x' (choose teacher, recall, sense or lookup)".
const TaskEntry& task_entry(const std::string& name);
// "teacher, recall or sense; lookup with --model cross": the tasks of the first model, then the others
// with the model they need, for --task's help.
std::string task_choices_help();
// Adds a task (before main(), from a static initialiser, or before any lookup); returns true so that it
// can initialise a static. Throws std::logic_error for a name already taken.
bool register_task(TaskEntry entry);

}  // namespace models
