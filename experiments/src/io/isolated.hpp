#pragma once
// Running a piece of reading in a child process. Some damage to an HDF5 file (a corrupted global heap)
// crashes inside the HDF5 library, and whether it does can depend on the state of the process's memory:
// a file that a validating child read without harm can still crash the parent. What is read from a file
// that may be damaged is therefore read in a forked child and handed back as text.
#include <functional>
#include <optional>
#include <string>

namespace sbx::io {

// Runs `work` in a forked child and returns the text it produced. A UserError thrown in the child is
// thrown again here; nullopt when the child died (a crash in the library). Without fork, runs it here.
std::optional<std::string> run_isolated(const std::function<std::string()>& work);

// Length-prefixed fields ("5:hello"), so that any bytes survive the trip.
void append_field(std::string& text, const std::string& field);
// Reads the next field from `pos`; false at the end.
bool next_field(const std::string& text, std::size_t& pos, std::string& field);

}  // namespace sbx::io
