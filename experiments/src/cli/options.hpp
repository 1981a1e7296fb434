#pragma once
// Shared Boost.program_options plumbing: parse a subcommand's arguments, answer --help, and turn every
// parse error into a one-line sbx::UserError.
#include <boost/program_options.hpp>

#include <string>

#include "experiments/src/cli/commands.hpp"

namespace sbx::cli {

namespace po = boost::program_options;

// Parses `args` into a variables_map. Returns false when --help was asked for (the help was printed).
// INI files are read by the commands themselves (ini_file.hpp), which can name the line of a bad entry.
bool parse_options(const std::string& command, const Args& args, po::options_description& options,
                   po::variables_map& vm, const po::positional_options_description* positional = nullptr);

}  // namespace sbx::cli
