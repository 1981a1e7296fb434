#pragma once
// A small INI reader with messages that name the file and the line: `key = value` lines, `[section]`
// headers, comments starting with # or ;, blank lines. A UTF-8 byte-order mark at the start is skipped.
// A key given twice in one section, a line that is neither, or a key outside a section where sections
// are required are errors (UserError "FILE:LINE: ..."). A section may come back under a second header:
// for most sections its keys join the first's, but a repeatable section ([grid] of a sweep) starts a new
// block each time, told apart by the line of its header.
#include <string>
#include <vector>

namespace sbx::cli {

struct IniEntry {
  std::string section;  // "" before the first [section]
  std::string key, value;
  int line = 0;
  int header_line = 0;  // the line of its section's header (0: before any); one block of a repeatable section
};

struct IniHeader {
  std::string section;
  int line = 0;
};

struct IniFile {
  std::string path;
  std::string text;  // the file as read (without the byte-order mark)
  std::vector<IniEntry> entries;
  std::vector<IniHeader> headers;  // every section header, in file order (an empty block has one too)
  // "FILE:LINE" for messages
  std::string where(const IniEntry& entry) const { return path + ":" + std::to_string(entry.line); }
};

// `sections`: the section names allowed ("" for keys before any section); `repeatable`: those whose every
// header starts a block of its own (a key may then be given once per block). Throws UserError.
IniFile read_ini(const std::string& path, const std::vector<std::string>& sections,
                 const std::vector<std::string>& repeatable = {});

}  // namespace sbx::cli
