// `sandbox layout`: the HDF5 layout of the files the sandbox writes (io/layout.hpp), as the Markdown table
// the README shows, or with --json for programs (tests/experiments/sqrtdk/test_layout.py compares it with
// the README and with the Python reader).
#include <cstdio>
#include <string>

#include "experiments/src/cli/options.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/train/option_table.hpp"  // links the option table, which registers its attributes

namespace sbx::cli {
namespace {

namespace lo = io::layout;

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else out += c;
  }
  return out + "\"";
}

void print_json() {
  std::string out = "{\n  \"entries\": [\n";
  const auto& entries = lo::entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const lo::Entry& e = entries[i];
    out += "    {\"section\": " + json_string(e.section) + ", \"path\": " + json_string(e.path) +
           ", \"kind\": " + json_string(lo::kind_name(e.kind)) + ", \"type\": " + json_string(lo::type_name(e.type)) +
           ", \"length\": " + json_string(lo::length_name(e.length)) + ", \"when\": " + json_string(e.when) +
           ", \"role\": " + json_string(lo::role_name(e.role)) + ", \"every_version\": " + (e.every_version ? "true" : "false") +
           ", \"meaning\": " + json_string(e.meaning) + "}" +
           (i + 1 < entries.size() ? ",\n" : "\n");
  }
  out += "  ],\n  \"run_options\": [\n";
  const auto& options = lo::run_options();
  for (std::size_t i = 0; i < options.size(); ++i)
    out += "    {\"name\": " + json_string(options[i].name) + ", \"type\": " + json_string(lo::type_name(options[i].type)) + "}" +
           (i + 1 < options.size() ? ",\n" : "\n");
  out += "  ]\n}\n";
  std::fputs(out.c_str(), stdout);
}

// The `when` column: what is always written now but missing from files of older versions says so.
std::string when_text(const lo::Entry& e) { return e.when.empty() && !e.every_version ? "not in older files" : e.when; }

void print_markdown() {
  std::string out = "| where | name | kind | type | length | when | meaning |\n|---|---|---|---|---|---|---|\n";
  for (const lo::Entry& e : lo::entries())
    out += "| `" + e.section + "` | `" + e.path + "` | " + lo::kind_name(e.kind) + " | " + lo::type_name(e.type) + " | " +
           lo::length_name(e.length) + " | " + when_text(e) + " | " + e.meaning + " |\n";
  out += "\nRun options (`" + std::string(lo::kRunOptionRow) + "`):";
  const auto& options = lo::run_options();
  for (std::size_t i = 0; i < options.size(); ++i)
    out += std::string(i ? ", " : " ") + "`" + options[i].name + "` " + lo::type_name(options[i].type);
  out += ".\n";
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int run_layout(const Args& args) {
  bool json = false;
  po::options_description options("layout options");
  options.add_options()("json", po::bool_switch(&json), "print the table as JSON instead of Markdown");
  po::variables_map vm;
  if (!parse_options("layout", args, options, vm)) return 0;
  (void)run_options();  // the option table's registration with the layout is linked with it
  if (json) print_json();
  else print_markdown();
  return 0;
}

}  // namespace sbx::cli
