// sandbox::models from outside the project: its headers are installed and its library links.
#include <cstdio>
#include "models/attention.hpp"

int main() {
  for (const std::string& name : models::scale_names()) {
    if (models::scale_name(models::parse_scale(name)) != name) return 1;
    std::printf("%s ", name.c_str());
  }
  std::printf("\n");
  return models::scale_names().empty() ? 1 : 0;
}
