#pragma once
// A small INI reader with messages that name the file and the line: `key = value` lines, `[section]`
// headers, comments starting with # or ;, blank lines. A UTF-8 byte-order mark at the start is skipped.
// A key given twice in one section, a line that is neither, or a key outside a section where sections
// are required are errors (UserError "FILE:LINE: ...").
#include <string>
#include <vector>

namespace sbx::cli {

struct IniEntry {
  std::string section;  // "" before the first [section]
  std::string key, value;
  int line = 0;
};

struct IniFile {
  std::string path;
  std::string text;  // the file as read (without the byte-order mark)
  std::vector<IniEntry> entries;
  // "FILE:LINE" for messages
  std::string where(const IniEntry& entry) const { return path + ":" + std::to_string(entry.line); }
};

// `sections`: the section names allowed ("" for keys before any section). Throws UserError.
IniFile read_ini(const std::string& path, const std::vector<std::string>& sections);

}  // namespace sbx::cli
