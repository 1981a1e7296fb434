#include "experiments/src/cli/ini_file.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "experiments/src/user_error.hpp"

namespace sbx::cli {
namespace {

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

std::string allowed_list(const std::vector<std::string>& sections) {
  std::string list;
  for (const auto& s : sections)
    if (!s.empty()) list += (list.empty() ? "[" : ", [") + s + "]";
  return list.empty() ? "none" : list;
}

}  // namespace

IniFile read_ini(const std::string& path, const std::vector<std::string>& sections, const std::vector<std::string>& repeatable) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(path + ": no such config file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot read config file");
  IniFile ini;
  ini.path = path;
  std::ostringstream whole;
  whole << in.rdbuf();
  ini.text = whole.str();
  if (ini.text.rfind("\xEF\xBB\xBF", 0) == 0) ini.text.erase(0, 3);  // UTF-8 byte-order mark
  if (ini.text.find('\0') != std::string::npos) throw UserError(path + ": not a text file (it contains NUL bytes)");

  const bool top_level_allowed = std::find(sections.begin(), sections.end(), "") != sections.end();
  std::string section;
  int header_line = 0;
  bool repeats = false;  // the current section is repeatable: keys are unique per block, not per section
  std::set<std::tuple<std::string, int, std::string>> seen;
  std::istringstream lines(ini.text);
  int number = 0;
  for (std::string raw; std::getline(lines, raw);) {
    ++number;
    const std::string line = trim(raw);
    const std::string at = path + ":" + std::to_string(number);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']') throw UserError(at + ": a section header must end with ']'");
      section = trim(line.substr(1, line.size() - 2));
      if (section.empty() || std::find(sections.begin(), sections.end(), section) == sections.end())
        throw UserError(at + ": unknown section [" + section + "] (allowed: " + allowed_list(sections) + ")");
      header_line = number;
      repeats = std::find(repeatable.begin(), repeatable.end(), section) != repeatable.end();
      ini.headers.push_back({section, number});
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) throw UserError(at + ": expected 'key = value', got '" + line + "'");
    IniEntry entry{section, trim(line.substr(0, eq)), trim(line.substr(eq + 1)), number, header_line};
    if (entry.key.empty()) throw UserError(at + ": a key is missing before '='");
    if (section.empty() && !top_level_allowed)
      throw UserError(at + ": '" + entry.key + "' is outside a section (allowed: " + allowed_list(sections) + ")");
    if (!seen.insert({section, repeats ? header_line : 0, entry.key}).second)
      throw UserError(at + ": '" + entry.key + "' is given twice" +
                      (section.empty() ? "" : " in [" + section + "]" + (repeats ? " (of line " + std::to_string(header_line) + ")" : "")));
    ini.entries.push_back(std::move(entry));
  }
  return ini;
}

}  // namespace sbx::cli
