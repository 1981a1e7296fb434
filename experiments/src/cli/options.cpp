#include "experiments/src/cli/options.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "experiments/src/user_error.hpp"

namespace sbx::cli {

bool parse_options(const std::string& command, const Args& args, po::options_description& options,
                   po::variables_map& vm, const std::string& ini_option,
                   const po::positional_options_description* positional) {
  options.add_options()("help,h", "show this help");
  try {
    po::command_line_parser parser(args);
    parser.options(options);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: sandbox " << command << " [options]\n" << options << "\n";
      return false;
    }
    if (!ini_option.empty() && vm.count(ini_option)) {
      const std::string path = vm[ini_option].as<std::string>();
      if (!std::filesystem::is_regular_file(path)) throw UserError(path + ": no such config file");
      std::ifstream in(path);
      if (!in) throw UserError(path + ": cannot read config file");
      try {
        po::store(po::parse_config_file(in, options, /*allow_unregistered=*/false), vm);
      } catch (const po::error& e) {
        throw UserError(path + ": " + e.what());
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UserError("sandbox " + command + ": " + e.what());
  }
  return true;
}

}  // namespace sbx::cli
