#include "experiments/src/cli/options.hpp"

#include <iostream>

#include "experiments/src/user_error.hpp"

namespace sbx::cli {

namespace {

// -1 is the internal "wait as long as it takes"; a user's negative or NaN is a mistake, not that.
void check_lock_timeout(const std::string& command, const po::variables_map& vm) {
  const auto it = vm.find("lock-timeout");
  if (it == vm.end() || it->second.defaulted()) return;
  const double seconds = it->second.as<double>();
  if (!(seconds >= 0))
    throw UserError("sandbox " + command + ": --lock-timeout must be a number of seconds >= 0 (leave it out to wait as long as it takes)");
}

}  // namespace

bool parse_options(const std::string& command, const Args& args, po::options_description& options,
                   po::variables_map& vm, const po::positional_options_description* positional) {
  options.add_options()("help,h", "show this help");
  try {
    po::command_line_parser parser(args);
    parser.options(options);
    const po::positional_options_description none;
    parser.positional(positional ? *positional : none);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: sandbox " << command << " [options]\n" << options << "\n";
      return false;
    }
    po::notify(vm);
    check_lock_timeout(command, vm);
  } catch (const po::too_many_positional_options_error&) {
    // Name the stray word rather than Boost's "too many positional options".
    // The first word that is neither an option nor an option's value, and what came before it.
    std::string stray, after, previous;
    bool value_expected = false;
    for (size_t i = 0; i < args.size() && stray.empty(); ++i) {
      const std::string& arg = args[i];
      if (arg.rfind("-", 0) == 0) {
        const auto* option = options.find_nothrow(arg.substr(arg.find_first_not_of('-')), false);
        value_expected = option && arg.find('=') == std::string::npos && option->semantic()->max_tokens() > 0;
        previous = arg;
      } else if (value_expected) {
        value_expected = false;
        previous += " " + arg;
      } else {
        stray = arg;
        if (!previous.empty()) after = " after '" + previous + "'";
      }
    }
    throw UserError("sandbox " + command + ": unexpected argument '" + stray + "'" + after +
                    " (one value per option; options start with --; see --help)");
  } catch (const po::error& e) {
    throw UserError("sandbox " + command + ": " + e.what());
  }
  return true;
}

}  // namespace sbx::cli
