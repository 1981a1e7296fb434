#include "experiments/src/cli/options.hpp"

#include <iostream>

#include "experiments/src/train/did_you_mean.hpp"
#include "experiments/src/train/option_table.hpp"
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

// The arguments with every run option in its canonical spelling: --d_model is --d-model, --run.d_k is
// --run.dk, --no_gradcheck is --no-gradcheck (find_run_option() says which spellings mean which option).
Args canonical_spellings(const Args& args, const po::options_description& options) {
  Args out;
  for (const std::string& arg : args) {
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      out.push_back(arg);
      continue;
    }
    const auto eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const std::string rest = eq == std::string::npos ? "" : arg.substr(eq);
    std::string fixed = name;
    if (!options.find_nothrow(name, false)) {
      std::string dashed = name;
      for (char& c : dashed)
        if (c == '_') c = '-';
      const auto dot = name.rfind('.');
      const std::string prefix = dot == std::string::npos ? "" : name.substr(0, dot + 1);
      if (options.find_nothrow(dashed, false)) fixed = dashed;
      else if (const RunOption* option = find_run_option(name.substr(prefix.size()));
               option && options.find_nothrow(prefix + option->key, false))
        fixed = prefix + option->key;
    }
    out.push_back("--" + fixed + rest);
  }
  return out;
}

std::string unknown_option_message(const std::string& command, const po::unknown_option& e, const po::options_description& options) {
  std::string typed = e.get_option_name();
  typed.erase(0, typed.find_first_not_of('-'));
  typed = typed.substr(0, typed.find('='));  // --seq-lem=4 names the option seq-lem
  std::vector<std::string> known;
  for (const auto& option : options.options())
    if (!option->long_name().empty()) known.push_back(option->long_name());
  std::string hint = did_you_mean(typed, known);
  for (const std::string& name : known)  // name the options as they are typed, with their dashes
    for (size_t at = 0; (at = hint.find("'" + name + "'", at)) != std::string::npos; at += name.size() + 4) hint.insert(at + 1, "--");
  return "sandbox " + command + ": unknown option '--" + typed + "'" + hint;
}

}  // namespace

bool parse_options(const std::string& command, const Args& args, po::options_description& options,
                   po::variables_map& vm, const po::positional_options_description* positional) {
  options.add_options()("help,h", "show this help");
  try {
    po::command_line_parser parser(canonical_spellings(args, options));
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
  } catch (const po::unknown_option& e) {
    throw UserError(unknown_option_message(command, e, options));
  } catch (const po::error& e) {
    throw UserError("sandbox " + command + ": " + e.what());
  }
  return true;
}

}  // namespace sbx::cli
