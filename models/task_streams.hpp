#pragma once
// Which runs see the same data. A task's batches depend on some fields of its TaskConfig only (recall's
// never on d_k, d_v or heads; the teacher's on everything, as it is an attention layer of the student's
// shapes): runs whose stream_identity is equal draw equal batch streams, which a sweep may then share.
#include <string>

#include "models/tasks.hpp"

namespace models {

// `config` with every field the named task's batches do not depend on set to its default.
// (The rule of each task is its registry entry's stream_identity.)
TaskConfig stream_identity(const std::string& task_name, TaskConfig config);

}  // namespace models
