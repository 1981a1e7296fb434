#pragma once
// The built-in tasks' registry entries, one function per task file of this folder; task_registry.cpp
// lists them.
#include "models/task_registry.hpp"

namespace models {

TaskEntry teacher_task();  // teacher.cpp
TaskEntry recall_task();   // recall.cpp
TaskEntry sense_task();    // sense.cpp
TaskEntry lookup_task();   // lookup.cpp
TaskEntry text_task();     // text.cpp

}  // namespace models
